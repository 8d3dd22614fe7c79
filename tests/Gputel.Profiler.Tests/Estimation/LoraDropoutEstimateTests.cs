using Gputel.Core.Estimation;
using Gputel.Core.Memory;
using Gputel.Core.Model;
using Gputel.Core.Training;
using Gputel.Profiler.Memory;
using Gputel.Profiler.Model;
using Gputel.Profiler.Training;

namespace Gputel.Profiler.Tests.Estimation;

/// <summary>
/// What LoRA dropout adds to the activations, estimated against measured: each adapter keeps its own
/// dropped copy of its input (instead of sharing the input) and, where the input has gradients, the
/// dropout mask. Compared as the difference between a run with dropout and one without, so the
/// estimator's other terms, checked elsewhere, do not blur it.
/// </summary>
public sealed class LoraDropoutEstimateTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gputel-dropout-" + Guid.NewGuid().ToString("N"));

    [Theory]
    [InlineData("q_proj")]
    [InlineData("q_proj,k_proj")]
    [InlineData("o_proj")]
    [InlineData("down_proj")]
    [InlineData("q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")]
    public void Dropout_adds_the_activations_the_estimator_predicts(string targets)
    {
        string[] modules = targets.Split(',');
        long withDropout = Measured(0.1, modules, out EstimateRequest request);
        long without = Measured(0, modules, out _);
        long estimatedWith = MemoryEstimator.Estimate(request).ForwardActivations;
        long estimatedWithout = MemoryEstimator.Estimate(request with { Lora = request.Lora with { Dropout = 0 } }).ForwardActivations;

        long measured = withDropout - without, estimated = estimatedWith - estimatedWithout;
        TestContext.Current.TestOutputHelper?.WriteLine($"{targets}: dropout added {measured} B measured, {estimated} B estimated");
        // Within 2 % of the difference plus 256 KiB: malloc counts the small chunks its per-thread
        // cache holds as in use, and those come and go by up to a few hundred KB between steps.
        Assert.True(Math.Abs(measured - estimated) <= measured / 50 + (256 << 10), $"{targets}: dropout added {measured} B measured, {estimated} B estimated");
        Assert.True(measured > 0, $"{targets}: dropout added nothing");
    }

    [Theory]
    [InlineData("0.1", 0.1)]
    [InlineData(null, 0)]
    public void A_records_lora_dropout_is_read_back(string? recorded, double dropout)
    {
        var settings = new Dictionary<string, string> { ["lora_rank"] = "8" };
        if (recorded is not null)
        {
            settings["lora_dropout"] = recorded;
        }

        var info = new Gputel.Core.Records.RunInfo("r", "tiny", "lora", "fp32", ComputeDevice.Cpu, DateTimeOffset.UnixEpoch, settings, new Dictionary<string, string>());
        Assert.Equal(dropout, EstimateRequest.FromRunInfo(info).Lora.Dropout);
        settings["lora_dropout"] = "1.2";
        Assert.Throws<InvalidDataException>(() => EstimateRequest.FromRunInfo(info));
    }

    private long Measured(double dropout, string[] targets, out EstimateRequest request)
    {
        var options = new FineTuneOptions(ModelShape.Tiny, Path.Combine(_dir, dropout.ToString(System.Globalization.CultureInfo.InvariantCulture)))
        {
            ModelName = "tiny",
            Method = FineTuneMethod.Lora,
            Steps = 6,
            BatchSize = 4,
            CutoffLength = 1024,
            Lora = new LoraSettings(8, 16, dropout, targets),
            Dtype = TorchSharp.torch.ScalarType.Float32,
        };
        var snapshots = FineTuneRun.Run(options);
        request = new EstimateRequest
        {
            Shape = ModelShape.Tiny,
            Method = FineTuneMethod.Lora,
            Lora = options.Lora,
            Dtype = "fp32",
            BatchSize = 4,
            CutoffLength = 1024,
            Device = ComputeDevice.Cpu,
        };
        // The median of the steady steps' forward passes: now and then one step's figure moves by a
        // MiB or more (a math library buffer set up again, memory released elsewhere in the
        // process), which the median of five leaves out.
        long[] forward = [.. snapshots.Where(s => s.Step >= 1 && s.Phase == Phase.Forward).Select(s => s[MemoryCategory.Activations]).Order()];
        return forward[forward.Length / 2];
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
