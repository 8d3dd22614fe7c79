using Gputel.Core.Memory;
using Gputel.Core.Records;
using Gputel.Core.Training;
using Gputel.Profiler.Records;

namespace Gputel.Bench.Report;

/// <summary>
/// A run record as a long GPU run leaves it, written with the real <see cref="RunRecordWriter"/>:
/// LoRA on qwen2-1.5b in bf16 on cuda:0, <c>steps</c> steps of four phases each (a 2 s step), and
/// samples every 200 ms spread over the same time, NVML's per-process figure following the phases
/// with a spike inside each backward.
/// </summary>
internal static class SyntheticRun
{
    private const long MiB = 1024 * 1024;
    private static readonly IReadOnlyList<Phase> Phases = Phase.All;
    private static readonly double[] PhaseSeconds = [0.6, 1.1, 0.2, 0.1];

    public static void Write(string directory, int steps, int samples)
    {
        DateTimeOffset start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var info = new RunInfo("bench-report", "qwen2-1.5b", "lora", "bf16", ComputeDevice.Cuda(0), start,
            new Dictionary<string, string> { ["optimizer"] = "adamw", ["batch_size"] = "4", ["cutoff_length"] = "1024", ["lora_rank"] = "8", ["lora_alpha"] = "16", ["steps"] = steps.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            new Dictionary<string, string> { ["gputel"] = "bench" },
            new RunProcess(int.MaxValue, "bench-host", start));
        var random = new Random(42);
        using var record = new RunRecordWriter(directory, info);
        double stepSeconds = PhaseSeconds.Sum();
        DateTimeOffset time = start;
        for (int step = 0; step < steps; step++)
        {
            for (int p = 0; p < Phases.Count; p++)
            {
                time += TimeSpan.FromSeconds(PhaseSeconds[p]);
                long activations = p == 0 ? (2800 + random.Next(200)) * MiB : p == 1 ? 40 * MiB : 0;
                long[] bytes = new long[MemoryCategories.All.Count];
                bytes[(int)MemoryCategory.Weights] = 3088 * MiB;
                bytes[(int)MemoryCategory.Gradients] = p is 1 or 2 ? 18 * MiB : 0;
                bytes[(int)MemoryCategory.OptimizerState] = 36 * MiB;
                bytes[(int)MemoryCategory.Activations] = activations;
                bytes[(int)MemoryCategory.Temporary] = p == 1 ? (1400 + random.Next(300)) * MiB : 64 * MiB;
                bytes[(int)MemoryCategory.Inputs] = 64 * 1024;
                bytes[(int)MemoryCategory.AllocatorCache] = (900 + random.Next(100)) * MiB;
                bytes[(int)MemoryCategory.Runtime] = 520 * MiB;
                bytes[(int)MemoryCategory.Unattributed] = random.Next(8) * MiB;
                long allocator = bytes.Sum() - bytes[(int)MemoryCategory.Temporary] - bytes[(int)MemoryCategory.AllocatorCache] - bytes[(int)MemoryCategory.Runtime];
                var snapshot = new MemorySnapshot(step, Phases[p], bytes, allocator, allocator + bytes[(int)MemoryCategory.Temporary], PhaseSeconds[p]);
                record.WriteStep(snapshot, p == 3 ? 2.0 - (step * 0.0001) : null, time);
            }
        }

        // Samples over the same span, each drawing on where in a step it falls.
        double span = steps * stepSeconds;
        for (int i = 0; i < samples; i++)
        {
            double t = span * i / samples;
            double inStep = t % stepSeconds;
            long used = (4600 + (inStep < 0.6 ? 2800 * inStep / 0.6 : inStep < 1.7 ? 2800 - (2700 * (inStep - 0.6) / 1.1) + (inStep is > 1.0 and < 1.2 ? 1500 : 0) : 100)) is var mib ? (long)(mib * MiB) : 0;
            record.WriteSample(new SampleLine(start + TimeSpan.FromSeconds(t), 0, used + (520 * MiB), used + (random.Next(50) * MiB)));
        }

        record.Complete(new RunEnd(start + TimeSpan.FromSeconds(span), steps, steps, Cancelled: false));
    }
}
