using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Gputel.Tests.Support;

/// <summary>
/// An OTLP receiver on loopback, in the test process: OTLP/HTTP (<c>/v1/metrics</c>,
/// <c>/v1/traces</c>) on one port and OTLP/gRPC (the collector services' <c>Export</c> methods,
/// HTTP/2 without TLS) on another. What arrives is decoded and kept, with the transport it came by.
/// </summary>
internal sealed class OtlpReceiver : IDisposable
{
    private const string GrpcMetrics = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    private const string GrpcTraces = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<(string Transport, OtlpPoint Point)> _points = new();
    private readonly ConcurrentQueue<(string Transport, OtlpSpan Span)> _spans = new();

    public OtlpReceiver()
    {
        ListenOptions? http = null, grpc = null;
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0, o => (http = o).Protocols = HttpProtocols.Http1);
            k.Listen(IPAddress.Loopback, 0, o => (grpc = o).Protocols = HttpProtocols.Http2);
        });
        _app = builder.Build();
        _app.MapPost("/v1/metrics", context => Http(context, body => Keep("http", Otlp.DecodeMetrics(body))));
        _app.MapPost("/v1/traces", context => Http(context, body => Keep("http", Otlp.DecodeTraces(body))));
        _app.MapPost(GrpcMetrics, context => Grpc(context, body => Keep("grpc", Otlp.DecodeMetrics(body))));
        _app.MapPost(GrpcTraces, context => Grpc(context, body => Keep("grpc", Otlp.DecodeTraces(body))));
        _app.StartAsync().GetAwaiter().GetResult();
        // Kestrel writes the bound port back into the listen options.
        HttpEndpoint = new Uri($"http://127.0.0.1:{http!.IPEndPoint!.Port}");
        GrpcEndpoint = new Uri($"http://127.0.0.1:{grpc!.IPEndPoint!.Port}");
    }

    /// <summary>Base URL of OTLP/HTTP (the exporter appends <c>/v1/metrics</c>).</summary>
    public Uri HttpEndpoint { get; }

    /// <summary>URL of OTLP/gRPC.</summary>
    public Uri GrpcEndpoint { get; }

    public IReadOnlyList<(string Transport, OtlpPoint Point)> Points => [.. _points];

    public IReadOnlyList<(string Transport, OtlpSpan Span)> Spans => [.. _spans];

    /// <summary>Waits until a received point of <paramref name="metric"/> satisfies <paramref name="match"/>.</summary>
    public OtlpPoint WaitForPoint(string metric, Func<OtlpPoint, bool> match, int seconds = 60)
    {
        OtlpPoint? found = null;
        Wait.Until(() => (found = _points.Select(p => p.Point).LastOrDefault(p => p.Metric == metric && match(p))) is not null, $"an OTLP point of {metric}", seconds);
        return found!;
    }

    private void Keep(string transport, List<OtlpPoint> points) => points.ForEach(p => _points.Enqueue((transport, p)));

    private void Keep(string transport, List<OtlpSpan> spans) => spans.ForEach(s => _spans.Enqueue((transport, s)));

    private static async Task Http(HttpContext context, Action<ReadOnlyMemory<byte>> decode)
    {
        byte[] body = await ReadBody(context).ConfigureAwait(false);
        if (context.Request.Headers.ContentEncoding == "gzip")
        {
            body = Gunzip(body);
        }

        decode(body);
        context.Response.ContentType = "application/x-protobuf";
        // An empty Export*ServiceResponse: full success.
    }

    private static async Task Grpc(HttpContext context, Action<ReadOnlyMemory<byte>> decode)
    {
        byte[] body = await ReadBody(context).ConfigureAwait(false);
        // gRPC framing: 1 byte compressed flag, 4 bytes big-endian length, the message.
        for (int at = 0; at + 5 <= body.Length;)
        {
            int length = (int)BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(at + 1, 4));
            byte[] message = body.AsSpan(at + 5, length).ToArray();
            decode(body[at] == 1 ? Gunzip(message) : message);
            at += 5 + length;
        }

        context.Response.ContentType = "application/grpc";
        await context.Response.Body.WriteAsync(new byte[5]).ConfigureAwait(false);
        context.Response.AppendTrailer("grpc-status", "0");
    }

    private static async Task<byte[]> ReadBody(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer).ConfigureAwait(false);
        return buffer.ToArray();
    }

    private static byte[] Gunzip(byte[] data)
    {
        using var gzip = new GZipStream(new MemoryStream(data), CompressionMode.Decompress);
        using var output = new MemoryStream();
        gzip.CopyTo(output);
        return output.ToArray();
    }

    public void Dispose()
    {
        _app.StopAsync().GetAwaiter().GetResult();
        _app.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
