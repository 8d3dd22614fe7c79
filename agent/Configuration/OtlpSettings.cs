namespace Gputel.Agent.Configuration;

/// <summary>How OTLP is sent: gRPC (<c>:4317</c>) or HTTP with protobuf bodies (<c>:4318</c>).</summary>
internal enum OtlpProtocol
{
    Grpc,
    Http,
}

/// <summary>
/// Where and how often metrics (and, for <c>finetune</c>, spans) are pushed over OTLP. Null in
/// <see cref="AgentSettings.Otlp"/> when no endpoint is set: OTLP is off unless asked for.
/// </summary>
/// <param name="Endpoint">
/// The collector's base URL, as in <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>: for HTTP the signal path
/// (<c>/v1/metrics</c>, <c>/v1/traces</c>) is appended, for gRPC it is used as it is.
/// </param>
/// <param name="Protocol">gRPC or HTTP/protobuf.</param>
/// <param name="Interval">How often metrics are exported.</param>
internal sealed record OtlpSettings(Uri Endpoint, OtlpProtocol Protocol, TimeSpan Interval)
{
    public const string DefaultProtocol = "grpc";
    public const string DefaultInterval = "10s";

    /// <summary>The URL one signal is sent to: the base URL plus the signal's path for HTTP.</summary>
    public Uri SignalEndpoint(string httpPath) =>
        Protocol == OtlpProtocol.Grpc ? Endpoint : new Uri(Endpoint.AbsoluteUri.TrimEnd('/') + "/" + httpPath);

    public override string ToString() => $"{Endpoint} ({(Protocol == OtlpProtocol.Grpc ? "grpc" : "http/protobuf")}, every {DurationParser.Format(Interval)})";
}
