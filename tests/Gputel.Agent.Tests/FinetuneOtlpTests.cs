using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary>
/// <c>gputel finetune</c> pushes its training memory by category and its phase spans over OTLP;
/// a receiver in the test decodes them from the wire.
/// </summary>
public sealed class FinetuneOtlpTests : IDisposable
{
    private static readonly string[] Categories =
        ["weights", "gradients", "optimizer_state", "activations", "temporary", "inputs", "allocator_cache", "runtime", "unattributed"];

    private static readonly string[] Phases = ["forward", "backward", "optimizer_step", "zero_grad"];

    private readonly TempDirectory _dir = new();

    [Fact]
    public void A_short_run_exports_memory_by_category_and_a_span_per_phase_per_step()
    {
        using var receiver = new OtlpReceiver();
        // An export interval far longer than the run: what arrives is the flush at the end of the run.
        (int exit, string output) = AgentProcess.Run(
            ["finetune", "--model", "tiny", "--steps", "2", "--method", "full", "--out", Path.Combine(_dir.Path, "run"),
             "--otlp-endpoint", receiver.HttpEndpoint.ToString(), "--otlp-protocol", "http", "--otlp-interval", "1h"],
            seconds: 300);
        Assert.True(exit == 0, output);

        List<OtlpPoint> usage = receiver.Points.Select(p => p.Point).Where(p => p.Metric == "training.memory.usage").ToList();
        Assert.NotEmpty(usage);
        Assert.All(usage, p => Assert.Equal("By", p.Unit));
        Assert.Equal(Categories.Order(), usage.Select(p => (string)p.Attributes["memory.category"]).Distinct().Order());
        Assert.Equal(Phases.Order(), usage.Select(p => (string)p.Attributes["training.phase"]).Distinct().Order());
        // Full fine-tuning: weights, gradients after backward and AdamW moments are all held.
        Assert.True(Value(usage, "weights", "forward") > 0);
        Assert.True(Value(usage, "gradients", "backward") > 0);
        Assert.True(Value(usage, "optimizer_state", "optimizer_step") > 0);
        Assert.All(usage, p => Assert.False(string.IsNullOrEmpty(p.Attributes["training.run.id"] as string)));
        // Cumulative: the flush at the end of the run and the last export on exit both say 2.
        List<OtlpPoint> steps = receiver.Points.Select(p => p.Point).Where(p => p.Metric == "training.steps").ToList();
        Assert.NotEmpty(steps);
        Assert.All(steps, p => Assert.Equal((2.0, true), (p.Value, p.Monotonic)));

        // Spans: one per phase per step, children of the run's span, all in one trace.
        List<OtlpSpan> spans = receiver.Spans.Select(s => s.Span).ToList();
        Assert.All(receiver.Spans, s => Assert.Equal("http", s.Transport));
        OtlpSpan run = Assert.Single(spans, s => s.Name == "finetune");
        Assert.Equal("full", run.Attributes["training.method"]);
        foreach (string phase in Phases)
        {
            List<OtlpSpan> ofPhase = spans.Where(s => s.Name == phase).ToList();
            Assert.Equal([0L, 1L], ofPhase.Select(s => (long)s.Attributes["training.step"]).Order());
            Assert.All(ofPhase, s => Assert.Equal((run.TraceId, run.SpanId), (s.TraceId, s.ParentSpanId)));
            Assert.All(ofPhase, s => Assert.Equal("Gputel.Training", s.Scope));
        }
    }

    [Theory]
    [InlineData("--otlp-protocol", "thrift", "invalid otlp-protocol 'thrift' (from flag --otlp-protocol): expected 'grpc' or 'http'")]
    [InlineData("--otlp-endpoint", "collector:4317", "invalid otlp-endpoint 'collector:4317' (from flag --otlp-endpoint): expected an http:// or https:// URL")]
    [InlineData("--otlp-interval", "5", "invalid otlp-interval '5' (from flag --otlp-interval): expected a duration with a unit")]
    public void Bad_otlp_flags_exit_with_2_and_say_why(string flag, string value, string message)
    {
        (int exit, string output) = AgentProcess.Run(["finetune", "--model", "tiny", "--steps", "1", "--out", Path.Combine(_dir.Path, "bad"), flag, value]);

        Assert.Equal(2, exit);
        Assert.Contains(message, output, StringComparison.Ordinal);
    }

    private static double Value(List<OtlpPoint> usage, string category, string phase) =>
        usage.Last(p => Equals(p.Attributes["memory.category"], category) && Equals(p.Attributes["training.phase"], phase)).Value;

    public void Dispose() => _dir.Dispose();
}
