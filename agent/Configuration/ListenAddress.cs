using System.Globalization;
using System.Net;

namespace Gputel.Agent.Configuration;

/// <summary>A <c>HOST:PORT</c> to listen on: <c>0.0.0.0:9445</c>, <c>:9445</c> (all addresses), <c>127.0.0.1:0</c> (any free port), <c>[::1]:9445</c>.</summary>
internal sealed record ListenAddress(IPAddress Address, int Port)
{
    public static bool TryParse(string? text, out ListenAddress? address)
    {
        address = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        string t = text.Trim();
        int colon = t.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(t.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
        {
            return false;
        }

        string host = t[..colon].Trim('[', ']');
        IPAddress? ip = host.Length == 0 ? IPAddress.Any
            : host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(host, out IPAddress? parsed) ? parsed : null;
        if (ip is null)
        {
            return false;
        }

        address = new ListenAddress(ip, port);
        return true;
    }

    public override string ToString() =>
        Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{Address}]:{Port}" : $"{Address}:{Port}";
}
