using Gputel.Profiler.Estimation;
using Gputel.Profiler.Memory;
using Gputel.Profiler.Model;
using Gputel.Profiler.Training;
using static TorchSharp.torch;

namespace Gputel.Profiler.Tests.Probe;

public sealed class Probe
{
    private static readonly ModelShape Gqa = ModelShape.Tiny with { VocabSize = 1024, Layers = 4, HiddenSize = 384, IntermediateSize = 1056, AttentionHeads = 8, KeyValueHeads = 2, HeadDim = 48 };

    [Theory]

    [InlineData("lora", true, "fp32", 2)]
    [InlineData("freeze", true, "fp32", 2)]
    [InlineData("full", true, "fp32", 2)]
    public void Run(string method, bool ckpt, string dtype, int batch)
    {
        if (Environment.GetEnvironmentVariable("GPUTEL_PROBE") is null) { Assert.Skip("probe only"); }
        string dir = Path.Combine(Path.GetTempPath(), "probe-" + Guid.NewGuid().ToString("N"));
        var m = Enum.Parse<FineTuneMethod>(method, true);
        var o = new FineTuneOptions(Gqa, dir) { Method = m, Steps = 4, BatchSize = batch, CutoffLength = 256, TrainableLayers = 2, GradientCheckpointing = ckpt, Dtype = dtype == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32 };
        var snaps = FineTuneRun.Run(o);
        var est = MemoryEstimator.Estimate(new EstimateRequest { Shape = Gqa, Method = m, TrainableLayers = 2, Dtype = dtype, BatchSize = batch, CutoffLength = 256, GradientCheckpointing = ckpt, Device = "cpu" });
        var w = TestContext.Current.TestOutputHelper!;
        w.WriteLine($"== {method} ckpt={ckpt} {dtype} b={batch}: est peak {est.PeakPhase} {est.PeakBytes / 1048576.0:0.00} fwdA {est.ForwardActivations / 1048576.0:0.00} temp {est[MemoryCategory.Temporary] / 1048576.0:0.00}");
        foreach (var s in snaps.Where(s => s.Step >= 1))
        {
            w.WriteLine($"{s.Step} {s.Phase,-15} alloc {s.AllocatorBytes / 1048576.0,8:0.00} peak {s.PeakBytes / 1048576.0,8:0.00} | " + string.Join(" ", MemoryCategoryNames.All.Select(c => $"{c.ToName()[..4]}={s[c] / 1048576.0:0.00}")));
        }
        Directory.Delete(dir, true);
    }
}
