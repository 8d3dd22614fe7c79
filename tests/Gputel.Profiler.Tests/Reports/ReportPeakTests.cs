using Gputel.Core.Memory;
using Gputel.Core.Records;
using Gputel.Core.Reports;
using Gputel.Core.Training;
using Gputel.Profiler.Records;

namespace Gputel.Profiler.Tests.Reports;

/// <summary>
/// The report's peak is the phase whose allocator peak is highest, shown by categories that add up
/// to it, even where the phase's end-of-phase categories plus its recorded temporary fall short; a
/// backward peak is shown on what backward began with.
/// </summary>
public sealed class ReportPeakTests : IDisposable
{
    private const long MiB = 1024 * 1024;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gputel-peak-" + Guid.NewGuid().ToString("N"));

    /// <summary>
    /// Forward ends at 18 MiB with its activations alive. Backward frees them (it ends at 13 MiB) but
    /// first allocates 3 MiB above its start, reaching 21 MiB: the profiler records those 3 MiB as
    /// temporary, so the end of backward plus its temporary (16 MiB) looks lower than forward.
    /// Cache and runtime (a GPU's) lie outside the allocator's figures and are added to every phase.
    /// </summary>
    private static MemorySnapshot Snapshot(int step, string phase, long cache, long runtime)
    {
        long[] bytes = new long[MemoryCategories.All.Count];
        bytes[(int)MemoryCategory.Weights] = 10 * MiB;
        bytes[(int)MemoryCategory.OptimizerState] = 2 * MiB;
        bytes[(int)MemoryCategory.AllocatorCache] = cache;
        bytes[(int)MemoryCategory.Runtime] = runtime;
        (long allocator, long peak) = phase switch
        {
            "forward" => (18 * MiB, 18 * MiB),
            "backward" => (13 * MiB, 21 * MiB),
            "optimizer_step" => (13 * MiB, 14 * MiB),
            _ => (12 * MiB, 13 * MiB),
        };
        bytes[(int)MemoryCategory.Activations] = phase == "forward" ? 6 * MiB : 0;
        bytes[(int)MemoryCategory.Gradients] = phase is "backward" or "optimizer_step" ? 1 * MiB : 0;
        bytes[(int)MemoryCategory.Temporary] = phase switch { "backward" => 3 * MiB, "optimizer_step" => 1 * MiB, _ => 0 };
        return new MemorySnapshot(step, Phase.Parse(phase), bytes, allocator, peak, 0.1);
    }

    private RunRecordReader Write(long cache, long runtime, string? jitSlabCache = null)
    {
        var settings = new Dictionary<string, string> { ["batch_size"] = "2", ["cutoff_length"] = "32" };
        if (jitSlabCache is not null)
        {
            settings["jit_slab_cache"] = jitSlabCache;
        }

        var info = new RunInfo("peak", "tiny", "lora", "fp32", runtime > 0 ? ComputeDevice.Cuda(0) : ComputeDevice.Cpu, DateTimeOffset.UnixEpoch,
            settings, new Dictionary<string, string>());
        using (var writer = new RunRecordWriter(_dir, info))
        {
            string[] phases = ["forward", "backward", "optimizer_step", "zero_grad"];
            for (int i = 0; i < 8; i++)
            {
                writer.WriteStep(Snapshot(i / 4, phases[i % 4], cache, runtime), time: DateTimeOffset.UnixEpoch.AddSeconds(i + 1));
            }

            writer.Complete(new RunEnd(DateTimeOffset.UnixEpoch.AddSeconds(9), 2, 2, false));
        }

        return RunRecordReader.Read(_dir);
    }

    [Theory]
    [InlineData(0L, 0L)]
    [InlineData(1 * MiB, 2 * MiB)]
    public void The_peak_is_the_phase_with_the_highest_allocator_peak_and_its_categories_add_up_to_it(long cache, long runtime)
    {
        RunRecordReader record = Write(cache, runtime);

        RunSummary summary = RunAnalysis.Summarize(record, _ => false);

        PhaseMemory peak = summary.Peak!;
        Assert.Equal((1, Phase.Backward), (peak.Step, peak.Phase));
        Assert.Equal(21 * MiB, peak.PeakBytes);
        // Not the end of backward (13 MiB, the activations freed, the gradients made) with the rest
        // of the peak as temporary, but what backward began with, the end of forward (18 MiB, every
        // activation alive, no gradient yet), and the 3 MiB it allocated above that.
        Assert.Equal(6 * MiB, peak.Bytes["activations"]);
        Assert.Equal(0, peak.Bytes["gradients"]);
        Assert.Equal(21 * MiB - 18 * MiB, peak.Bytes["temporary"]);
        Assert.Equal(13 * MiB, peak.AllocatorBytes);
        Assert.Equal(21 * MiB + cache + runtime, peak.TotalBytes);
        Assert.Equal(peak.TotalBytes, peak.Bytes.Values.Sum());

        // The headline says which steps the peak is the highest of, and names step 0's where its
        // one-time set-up went higher.
        Assert.Equal($"the highest allocator peak after step 0, {ByteText.Format(21 * MiB)}", summary.DescribePeakScope());
        PhasePeak forwardPeaks = summary.PhasePeaks[0];
        RunSummary higherStep0 = summary with { PhasePeaks = [forwardPeaks with { Step0 = forwardPeaks.Step0! with { PeakBytes = 30 * MiB } }] };
        Assert.EndsWith($"; step 0, with its one-time set-up, reached {ByteText.Format(30 * MiB)}", higherStep0.DescribePeakScope(), StringComparison.Ordinal);

        // The estimate is compared with that same phase, and so is the phase's own row.
        EstimateSummary estimate = summary.Estimate!;
        Assert.Equal(peak.TotalBytes, estimate.MeasuredPeakBytes);
        Assert.All(estimate.Categories, c => Assert.Equal(peak.Bytes[c.Category], c.MeasuredBytes));
        Assert.Equal(peak.TotalBytes, summary.PhasePeaks.Single(p => p.Phase == Phase.Backward).LaterSteps!.TotalBytes);
        // zero_grad frees the gradients: its peak (its start) holds them. The next step's forward
        // begins after a new batch, so it stands on its own end whatever the line before it says.
        PhaseMemory zeroGrad = summary.PhasePeaks.Single(p => p.Phase == Phase.ZeroGrad).LaterSteps!;
        Assert.Equal((1 * MiB, 0L, 13 * MiB + cache + runtime), (zeroGrad.Bytes["gradients"], zeroGrad.Bytes["temporary"], zeroGrad.TotalBytes));
        PhaseMemory forward = summary.PhasePeaks.Single(p => p.Phase == Phase.Forward).LaterSteps!;
        Assert.Equal((6 * MiB, 18 * MiB + cache + runtime), (forward.Bytes["activations"], forward.TotalBytes));

        // The chart's highest band is the same peak.
        ChartSeries chart = ChartSeries.From(record);
        Assert.Equal(peak.TotalBytes, chart.Bands.Max(b => b.Tops[^1]));
        Assert.Equal(Phase.Backward, chart.Bands.MaxBy(b => b.Tops[^1])!.Memory.Phase);
    }

    [Theory]
    [InlineData("on", true)]
    [InlineData("off", false)]
    [InlineData(null, false)]
    public void A_cpu_run_with_the_jit_slab_cache_on_is_warned_about(string? setting, bool warned)
    {
        RunSummary summary = RunAnalysis.Summarize(Write(0, 0, setting), _ => false);

        Assert.Equal(warned, summary.Warnings.Any(w => w.Contains("DOTNET_JitHostMaxSlabCache=0", StringComparison.Ordinal)));
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
