using Gputel.Tests.Support;
using static Gputel.Tests.Support.Scripts;

namespace Gputel.Agent.Tests;

/// <summary>
/// The real agent on the fake driver pushes OTLP to a receiver in the test, over gRPC and over
/// HTTP/protobuf; what arrives is decoded from the wire and checked against the script.
/// </summary>
public sealed class OtlpExportTests : IDisposable
{
    private const string Model = "NVIDIA H100 80GB HBM3";
    private const string Uuid0 = "GPU-00000000-0000-0000-0000-000000000000";
    private const string Uuid1 = "GPU-00000000-0000-0000-0000-000000000001";
    private readonly TempDirectory _dir = new();

    private static string Script => Header() + "process_name 4242 python3\n"
        + Gpu(0, usedBytes: 3 * GiB, extra: $"process compute 4242 {16 * GiB}\nxid 0 79\n")
        + Gpu(1, usedBytes: 5 * GiB);

    [Theory]
    [InlineData("grpc")]
    [InlineData("http")]
    public void The_agent_exports_gpu_metrics_under_the_hardware_semantic_conventions(string protocol)
    {
        using var receiver = new OtlpReceiver();
        Uri endpoint = protocol == "grpc" ? receiver.GrpcEndpoint : receiver.HttpEndpoint;
        using AgentProcess agent = AgentProcess.Start(
            ["agent", "--listen", "127.0.0.1:0", "--nvml-library", FakeDriver.LibraryPath, "--pod-resources-socket", "none",
             "--otlp-endpoint", endpoint.ToString(), "--otlp-protocol", protocol, "--otlp-interval", "200ms"],
            FakeDriver.Environment(_dir.Path, Script));
        agent.WaitUntilListening();

        // The scripted bytes per GPU, identified as the conventions ask.
        OtlpPoint gpu0 = receiver.WaitForPoint("hw.gpu.memory.usage", p => Equals(p.Attributes["hw.id"], Uuid0));
        OtlpPoint gpu1 = receiver.WaitForPoint("hw.gpu.memory.usage", p => Equals(p.Attributes["hw.id"], Uuid1));
        Assert.Equal(3.0 * GiB, gpu0.Value);
        Assert.Equal(5.0 * GiB, gpu1.Value);
        Assert.Equal(("By", "sum", false), (gpu0.Unit, gpu0.Type, gpu0.Monotonic));
        Assert.Equal(Model, gpu0.Attributes["hw.model"]);
        Assert.Equal("gpu", gpu0.Attributes["hw.type"]);
        Assert.Equal("NVIDIA", gpu0.Attributes["hw.vendor"]);
        Assert.Equal("nvidia0", gpu0.Attributes["hw.name"]);
        Assert.Equal("560.35.03", gpu0.Attributes["hw.driver_version"]);
        Assert.Equal("gputel", gpu0.Resource["service.name"]);
        Assert.Equal("Gputel.Agent", gpu0.Scope);

        // Every point came by the transport asked for.
        Assert.All(receiver.Points, p => Assert.Equal(protocol, p.Transport));

        Assert.Equal(80.0 * GiB, receiver.WaitForPoint("hw.gpu.memory.limit", p => Equals(p.Attributes["hw.id"], Uuid1)).Value);
        Assert.Equal(3.0 / 80, receiver.WaitForPoint("hw.gpu.memory.utilization", p => Equals(p.Attributes["hw.id"], Uuid0)).Value, 9);
        Assert.Equal(0.87, receiver.WaitForPoint("hw.gpu.utilization", p => Equals(p.Attributes["hw.gpu.task"], "general")).Value);
        Assert.Equal(0.12, receiver.WaitForPoint("hw.gpu.utilization", p => Equals(p.Attributes["hw.gpu.task"], "encoder")).Value);
        Assert.Equal(350.5, receiver.WaitForPoint("hw.power", p => Equals(p.Attributes["hw.id"], Uuid0)).Value);
        Assert.Equal(65, receiver.WaitForPoint("hw.temperature", p => Equals(p.Attributes["hw.parent"], Uuid0) && Equals(p.Attributes["hw.sensor_location"], "gpu")).Value);
        Assert.Equal(12, receiver.WaitForPoint("hw.errors", p => Equals(p.Attributes["hw.id"], Uuid0) && Equals(p.Attributes["error.type"], "corrected")).Value);
        Assert.Equal(1, receiver.WaitForPoint("hw.errors", p => Equals(p.Attributes["error.type"], "xid_79")).Value);
        Assert.Equal(1, receiver.WaitForPoint("hw.status", p => Equals(p.Attributes["hw.id"], Uuid1) && Equals(p.Attributes["hw.state"], "ok")).Value);

        // Energy is a monotonic counter in joules that keeps rising (350.5 W scripted).
        OtlpPoint energy = receiver.WaitForPoint("hw.energy", p => Equals(p.Attributes["hw.id"], Uuid0));
        Assert.True(energy.Monotonic);
        Assert.Equal("J", energy.Unit);
        Assert.True(energy.Value >= 123456.789, $"energy {energy.Value} J");
        receiver.WaitForPoint("hw.energy", p => Equals(p.Attributes["hw.id"], Uuid0) && p.Value > energy.Value);

        OtlpPoint process = receiver.WaitForPoint("process.gpu.memory.usage", p => Equals(p.Attributes["process.pid"], 4242L));
        Assert.Equal(16.0 * GiB, process.Value);
        Assert.Equal(Uuid0, process.Attributes["hw.id"]);
        Assert.Equal("python3", process.Attributes["process.executable.name"]);

        Assert.True(receiver.WaitForPoint("system.memory.limit", _ => true).Value > 0);
    }

    [Fact]
    public void Without_an_endpoint_nothing_is_exported()
    {
        using var receiver = new OtlpReceiver();
        Dictionary<string, string> env = FakeDriver.Environment(_dir.Path, Script);
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.HttpEndpoint.ToString();
        using AgentProcess agent = AgentProcess.Start(["agent", "--listen", "127.0.0.1:0", "--nvml-library", FakeDriver.LibraryPath, "--otlp-interval", "100ms"], env);
        Uri uri = agent.WaitUntilListening();

        // Scrape until the samplers have run several times: long past ten export intervals.
        using var http = new HttpClient();
        Wait.Until(() => http.GetStringAsync(new Uri(uri, "metrics")).GetAwaiter().GetResult().Contains("gpu_energy_joules_total", StringComparison.Ordinal), "the first samples");
        Thread.Sleep(1500);

        Assert.Empty(receiver.Points);
        Assert.DoesNotContain("OTLP", agent.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("grpc")]
    [InlineData("http/protobuf")]
    public void A_collector_that_cannot_be_reached_is_told_once_not_dropped_in_silence(string protocol)
    {
        // A port nothing listens on: every export fails.
        int port = LoopbackPorts.Free();

        using AgentProcess agent = AgentProcess.Start(
            ["agent", "--listen", "127.0.0.1:0", "--nvml-library", FakeDriver.LibraryPath, "--otlp-endpoint", $"http://127.0.0.1:{port}", "--otlp-protocol", protocol, "--otlp-interval", "200ms"],
            FakeDriver.Environment(_dir.Path, Script));
        agent.WaitUntilListening();

        agent.WaitForLine($"OTLP export failed: .*127\\.0\\.0\\.1:{port}", seconds: 30);
        // Several intervals later: still one line, the reminder waits a minute.
        Thread.Sleep(1500);
        Assert.Single(agent.Output.Split('\n'), l => l.Contains("OTLP export", StringComparison.Ordinal) && l.Contains("fail", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", agent.Output, StringComparison.Ordinal);
    }

    public void Dispose() => _dir.Dispose();
}
