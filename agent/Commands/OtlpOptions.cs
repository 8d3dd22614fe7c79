using System.CommandLine;
using Gputel.Agent.Configuration;

namespace Gputel.Agent.Commands;

/// <summary>The <c>--otlp-*</c> flags, shared by <c>agent</c> and <c>finetune</c>.</summary>
internal sealed class OtlpOptions
{
    private readonly Option<string> _endpoint = new("--otlp-endpoint")
    {
        Description = "Push metrics over OTLP to this collector URL, e.g. http://localhost:4317 (grpc) or http://localhost:4318 (http; /v1/metrics is appended). Off when not given. Env GPUTEL_OTLP_ENDPOINT.",
    };

    private readonly Option<string> _protocol = new("--otlp-protocol")
    {
        Description = $"OTLP transport: grpc or http (protobuf over HTTP) (default {OtlpSettings.DefaultProtocol}). Env GPUTEL_OTLP_PROTOCOL.",
    };

    private readonly Option<string> _interval = new("--otlp-interval")
    {
        Description = $"How often metrics are pushed over OTLP (default {OtlpSettings.DefaultInterval}). Env GPUTEL_OTLP_INTERVAL.",
    };

    public static OtlpOptions Create() => new();

    public void AddTo(Command command)
    {
        command.Add(_endpoint);
        command.Add(_protocol);
        command.Add(_interval);
    }

    public void AddFlags(ParseResult parse, Dictionary<string, string?> flags)
    {
        flags["otlp_endpoint"] = parse.GetValue(_endpoint);
        flags["otlp_protocol"] = parse.GetValue(_protocol);
        flags["otlp_interval"] = parse.GetValue(_interval);
    }
}
