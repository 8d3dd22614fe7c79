using System.Buffers.Binary;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using static Gputel.Tests.Support.WireWriter;

namespace Gputel.Tests.Support;

/// <summary>
/// A stand-in for the kubelet's pod-resources gRPC service on a unix socket (HTTP/2 without TLS),
/// answering <c>v1.PodResourcesLister/List</c> with the pods it is given, encoded by hand.
/// </summary>
internal sealed class FakeKubelet : IDisposable
{
    private readonly WebApplication _app;
    private readonly string _dir = Directory.CreateTempSubdirectory("gputel-kubelet-").FullName;
    private int _calls;

    public FakeKubelet()
    {
        SocketPath = Path.Combine(_dir, "kubelet.sock");
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(SocketPath, o => o.Protocols = HttpProtocols.Http2));
        _app = builder.Build();
        _app.MapPost("/v1.PodResourcesLister/List", List);
        _app.StartAsync().GetAwaiter().GetResult();
    }

    public string SocketPath { get; }

    /// <summary>The encoded <c>ListPodResourcesResponse</c> to answer with.</summary>
    public byte[] Response { get; set; } = [];

    /// <summary>A gRPC status to fail with instead (e.g. 14 UNAVAILABLE), or 0 to answer.</summary>
    public int FailWith { get; set; }

    public int Calls => Volatile.Read(ref _calls);

    /// <summary>A <c>PodResources</c> message: name 1, namespace 2, containers 3.</summary>
    public static byte[] Pod(string name, string ns, params byte[][] containers) =>
        Message([String(1, name), String(2, ns), .. containers.Select(c => Bytes(3, c))]);

    /// <summary>
    /// A <c>ContainerResources</c> message: name 1, devices 2 (<c>ContainerDevices</c>: resource_name 1,
    /// device_ids 2), with the packed cpu_ids (3) a real kubelet adds, which the client must skip.
    /// </summary>
    public static byte[] Container(string name, string resource, params string[] deviceIds) =>
        Message(
            String(1, name),
            Bytes(2, Message([String(1, resource), .. deviceIds.Select(id => String(2, id))])),
            Bytes(3, [2, 3]));

    /// <summary>A <c>ListPodResourcesResponse</c>: pod_resources 1.</summary>
    public static byte[] List(params byte[][] pods) => Message([.. pods.Select(p => Bytes(1, p))]);

    private async Task List(HttpContext context)
    {
        Interlocked.Increment(ref _calls);
        using var request = new MemoryStream();
        await context.Request.Body.CopyToAsync(request).ConfigureAwait(false);
        Assert.Equal(new byte[5], request.ToArray()); // an empty ListPodResourcesRequest, framed

        context.Response.ContentType = "application/grpc";
        if (FailWith != 0)
        {
            // A trailers-only answer, as gRPC servers send for an error before any message.
            context.Response.Headers["grpc-status"] = FailWith.ToString(System.Globalization.CultureInfo.InvariantCulture);
            context.Response.Headers["grpc-message"] = "kubelet%20is%20restarting";
            return;
        }

        byte[] frame = new byte[5 + Response.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)Response.Length);
        Response.CopyTo(frame, 5);
        await context.Response.Body.WriteAsync(frame).ConfigureAwait(false);
        context.Response.AppendTrailer("grpc-status", "0");
    }

    public void Dispose()
    {
        _app.StopAsync().GetAwaiter().GetResult();
        _app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_dir, recursive: true);
    }
}
