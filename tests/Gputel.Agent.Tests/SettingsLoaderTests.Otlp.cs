using Gputel.Agent.Configuration;

namespace Gputel.Agent.Tests;

/// <content>The OTLP, /proc and kubelet settings through every layer: file, environment, flags.</content>
public sealed partial class SettingsLoaderTests
{
    [Fact]
    public void Otlp_is_off_without_an_endpoint_even_with_other_otlp_settings()
    {
        _env["GPUTEL_OTLP_PROTOCOL"] = "http";
        _flags["otlp_interval"] = "5s";

        Assert.Null(Load().Otlp);
    }

    [Fact]
    public void Otlp_settings_merge_file_environment_and_flags()
    {
        string config = _dir.File("agent.yaml", "otlp_endpoint: http://file:4317\notlp_protocol: http\notlp_interval: 30s\n");
        _env["GPUTEL_OTLP_ENDPOINT"] = "http://env:4318";
        _flags["otlp_interval"] = "2s";

        OtlpSettings otlp = Load(config).Otlp!;

        Assert.Equal(new Uri("http://env:4318"), otlp.Endpoint);
        Assert.Equal(OtlpProtocol.Http, otlp.Protocol);
        Assert.Equal(TimeSpan.FromSeconds(2), otlp.Interval);
        Assert.Equal(new Uri("http://env:4318/v1/metrics"), otlp.SignalEndpoint("v1/metrics"));
    }

    [Fact]
    public void Grpc_is_the_default_and_its_endpoint_is_used_as_given()
    {
        _flags["otlp_endpoint"] = "https://collector.example:4317";

        OtlpSettings otlp = Load().Otlp!;

        Assert.Equal(OtlpProtocol.Grpc, otlp.Protocol);
        Assert.Equal(TimeSpan.FromSeconds(10), otlp.Interval);
        Assert.Equal(new Uri("https://collector.example:4317"), otlp.SignalEndpoint("v1/metrics"));
    }

    [Theory]
    [InlineData("otlp_endpoint", "localhost:4317", "invalid otlp-endpoint 'localhost:4317' (from flag --otlp-endpoint): expected an http:// or https:// URL")]
    [InlineData("otlp_endpoint", "ftp://host/", "invalid otlp-endpoint 'ftp://host/'")]
    [InlineData("otlp_protocol", "udp", "invalid otlp-protocol 'udp' (from flag --otlp-protocol): expected 'grpc' or 'http'")]
    [InlineData("otlp_interval", "10ms", "invalid otlp-interval '10ms' (from flag --otlp-interval): must be between 100ms and 3600s")]
    [InlineData("proc_root", "/no/such/proc", "invalid proc-root '/no/such/proc' (from flag --proc-root): no such directory")]
    [InlineData("pod_resources_socket", "/no/such.sock", "invalid pod-resources-socket '/no/such.sock' (from flag --pod-resources-socket): no such socket")]
    public void Bad_values_name_the_setting_the_value_and_the_source(string key, string value, string message)
    {
        _flags["otlp_endpoint"] = "http://localhost:4317";
        _flags[key] = value;

        Assert.StartsWith(message, Error(), StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_values_from_the_environment_say_so()
    {
        _env["GPUTEL_OTLP_ENDPOINT"] = "not a url";

        Assert.StartsWith("invalid otlp-endpoint 'not a url' (from environment variable GPUTEL_OTLP_ENDPOINT)", Error(), StringComparison.Ordinal);
    }

    [Fact]
    public void Proc_root_and_kubelet_socket_can_be_set_or_turned_off()
    {
        string socket = _dir.File("kubelet.sock", string.Empty);
        _flags["proc_root"] = _dir.Path;
        _env["GPUTEL_POD_RESOURCES_SOCKET"] = socket;

        AgentSettings s = Load();
        Assert.Equal(_dir.Path, s.ProcRoot);
        Assert.Equal(socket, s.PodResourcesSocket);

        _flags["pod_resources_socket"] = "none";
        Assert.Null(Load().PodResourcesSocket);
    }

    [Fact]
    public void Finetune_reads_the_otlp_settings_from_environment_and_flags()
    {
        _env["GPUTEL_OTLP_ENDPOINT"] = "http://env:4318";
        _env["GPUTEL_OTLP_PROTOCOL"] = "http/protobuf";

        OtlpSettings? otlp = SettingsLoader.LoadOtlp(_flags, name => _env.TryGetValue(name, out string? v) ? v : null);

        Assert.Equal(OtlpProtocol.Http, otlp!.Protocol);
        Assert.Equal(new Uri("http://env:4318/v1/traces"), otlp.SignalEndpoint("v1/traces"));
    }
}
