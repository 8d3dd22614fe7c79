using System.Net;
using System.Net.Sockets;

namespace Gputel.Tests.Support;

/// <summary>Loopback ports for tests: one free now, or one held busy.</summary>
internal static class LoopbackPorts
{
    /// <summary>A port nothing listens on right now (the system's pick, released at once).</summary>
    public static int Free()
    {
        using TcpListener listener = Hold(out int port);
        return port;
    }

    /// <summary>A listener holding a port busy until disposed, and its <paramref name="port"/>.</summary>
    public static TcpListener Hold(out int port)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        port = ((IPEndPoint)listener.LocalEndpoint).Port;
        return listener;
    }
}
