using System.Diagnostics;
using System.Globalization;
using Gputel.Bench.Agent;
using Gputel.Core.Memory;
using Gputel.Core.Model;
using Gputel.Core.Training;
using Gputel.Profiler;
using Gputel.Profiler.Memory;
using TorchSharp;

namespace Gputel.Bench.Profiler;

/// <summary>
/// What the training-memory profiler's hooks cost a fine-tuning step on the CPU: the same AdamW
/// full fine-tuning loop with a <see cref="MemoryAccountant"/> attached ("on") and without ("off"),
/// in one process, in alternating blocks so that drift (other load, thermal, allocator state) falls
/// on both alike. Then where the "on" time goes: the phase scopes timed inside the loop, the peak
/// sampler thread's CPU, and each piece of the accounting timed on its own.
/// </summary>
internal static class ProfilerMode
{
    private const long Seed = 42;

    // Whether the hooks run with exact CPU peaks, whose allocator set-up the "off" steps undo.
    private static bool s_exact;

    private static readonly BenchShape[] Shapes =
    [
        new("tiny", "tiny", ModelShape.Tiny with { VocabSize = 512 }, 2, 32),
        // `gputel finetune --model tiny`'s default batch: one sequence of 128 tokens.
        new("tiny-128", "tiny, finetune default batch", ModelShape.Tiny, 1, 128),
        new("small", "small", ModelShape.Tiny with { VocabSize = 512, Layers = 4, HiddenSize = 384, IntermediateSize = 1056, AttentionHeads = 8, KeyValueHeads = 2, HeadDim = 48 }, 2, 128),
    ];

    /// <summary>The keys <c>--shape</c> takes.</summary>
    public static IEnumerable<string> ShapeKeys => Shapes.Select(s => s.Key);

    public static void Run(int blocks, int stepsPerBlock, int warmUp, int threads, IReadOnlyCollection<string> only, bool exactCpuPeaks)
    {
        if (blocks < 2)
        {
            throw new ArgumentException("--blocks needs at least 2 (the interval comes from the spread between block pairs)");
        }

        BenchShape[] shapes = only.Count == 0 ? Shapes : [.. Shapes.Where(s => only.Contains(s.Key))];
        if (only.FirstOrDefault(key => !Shapes.Any(s => s.Key == key)) is { } unknown)
        {
            throw new ArgumentException($"--shape '{unknown}' is not one of {string.Join(", ", ShapeKeys)}");
        }

        string libtorch = TorchRuntime.EnsureLoaded(exactCpuPeaks);
        s_exact = CpuAllocator.ExactPeaks;
        if (threads > 0)
        {
            torch.set_num_threads(threads);
        }

        long runtime = LibtorchRuntime.Prime();
        Console.WriteLine(MachineInfo.Describe());
        Console.WriteLine(s_exact
            ? "CPU peaks: exact (--exact-cpu-peaks: glibc maps every block over 128 KiB fresh, so the resident high-water mark follows the allocator); the \"off\" steps get glibc's own thresholds as a run settles them (mmap 32 MiB, trim 64 MiB), so what the set-up costs counts as the hooks'"
            : "CPU peaks: sampled (the default: glibc's own mmap threshold in both arms; one malloc arena in both)");
        Console.WriteLine(TieredCompilationOff()
            ? "JIT: tiered compilation off (DOTNET_TieredCompilation=0): both arms run fully optimised code from their first step"
            : "JIT: tiered compilation on (the default): code is recompiled in the background for a long time (hundreds of steps here), in either arm; set DOTNET_TieredCompilation=0 for the steady state");
        Console.WriteLine(Invariant($"libtorch {libtorch} (CPU), {torch.get_num_threads()} intra-op threads; AdamW (lr 1e-4) full fine-tuning, fp32, seed {Seed}, synthetic batches; per shape {warmUp} warm-up steps each way, then {blocks} pairs of {stepsPerBlock}-step blocks, hooks on and off alternating (on first in even pairs, off first in odd)"));

        var results = new List<ShapeResult>();
        foreach (BenchShape shape in shapes)
        {
            Console.Error.WriteLine($"profiler: {shape.Name} ...");
            results.Add(Measure(shape, runtime, blocks, stepsPerBlock, warmUp));
        }

        Console.WriteLine();
        Console.WriteLine("| shape | parameters | batch x seq | steps each way | off: mean / median ms | on: mean / median ms | overhead: mean over block pairs of on/off block medians [95% CI] | overhead of medians |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (ShapeResult r in results)
        {
            Console.WriteLine(Invariant(
                $"| {r.Shape.Name} | {r.Parameters:N0} | {r.Shape.BatchSize} x {r.Shape.SequenceLength} | {r.Off.Count} | {Mean(r.Off) * 1e3:0.00} / {Median(r.Off) * 1e3:0.00} | {Mean(r.On) * 1e3:0.00} / {Median(r.On) * 1e3:0.00} | {Mean(r.PairOverhead):+0.00;-0.00} % [{r.IntervalLow:+0.00;-0.00}, {r.IntervalHigh:+0.00;-0.00}] | {100 * (Median(r.On) / Median(r.Off) - 1):+0.00;-0.00} % |"));
        }

        Console.WriteLine();
        Console.WriteLine("Where the \"on\" time goes, per step (phase scopes timed inside the loop: opening, which starts the peak sampler, plus closing, which categorizes):");
        Console.WriteLine();
        Console.WriteLine("| shape | 4 phase scopes, µs/step | % of off mean step | forward | backward | optimizer_step | zero_grad | peak sampler thread CPU in on / off blocks, µs/step | process CPU off / on, ms/step | per-step GC.Collect + finalizers off / on, µs | managed allocation off / on, KB/step | JIT compilation off / on, µs/step |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (ShapeResult r in results)
        {
            double[] perPhase = r.ScopeTicks.Select(t => Micros(t) / r.On.Count).ToArray();
            Console.WriteLine(Invariant(
                $"| {r.Shape.Name} | {perPhase.Sum():0} | {perPhase.Sum() / (Mean(r.Off) * 1e6) * 100:0.00} % | {perPhase[0]:0} | {perPhase[1]:0} | {perPhase[2]:0} | {perPhase[3]:0} | {r.SamplerNs / 1e3 / r.On.Count:0} / {r.SamplerOffNs / 1e3 / r.Off.Count:0} | {r.ProcessOffNs / 1e6 / r.Off.Count:0.00} / {r.ProcessOnNs / 1e6 / r.On.Count:0.00} | {Micros(r.OffRuntime.CollectTicks) / r.Off.Count:0} / {Micros(r.OnRuntime.CollectTicks) / r.On.Count:0} | {r.OffRuntime.AllocatedBytes / 1024.0 / r.Off.Count:0.0} / {r.OnRuntime.AllocatedBytes / 1024.0 / r.On.Count:0.0} | {r.OffRuntime.JitNs / 1e3 / r.Off.Count:0} / {r.OnRuntime.JitNs / 1e3 / r.On.Count:0} |"));
        }

        Console.WriteLine();
        Console.WriteLine("Inside the scopes, µs per step (open: the phase's start read, where it is not the last phase's end; end read: the allocator read at the phase's end; categorize: tensors walked into categories; log: the snapshot kept), and the reads the loop offers outside them (when the loss is computed, and where the optimizer's walk begins and ends):");
        Console.WriteLine();
        Console.WriteLine("| shape | forward: open / end read / categorize / log | backward | optimizer_step | zero_grad | offered reads |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (ShapeResult r in results)
        {
            string Cells(string phase) => r.Inside.TryGetValue(phase, out long[]? t)
                ? string.Join(" / ", t.Select(ticks => (Micros(ticks) / r.On.Count).ToString("0.0", CultureInfo.InvariantCulture)))
                : "-";
            string marks = r.Inside.TryGetValue("marks", out long[]? m) ? (Micros(m[0]) / r.On.Count).ToString("0.0", CultureInfo.InvariantCulture) : "-";
            Console.WriteLine($"| {r.Shape.Name} | {Cells("forward")} | {Cells("backward")} | {Cells("optimizer_step")} | {Cells("zero_grad")} | {marks} |");
        }

        Console.WriteLine();
        Console.WriteLine("The accounting's pieces, each timed alone, µs per call (after a backward and optimizer step, gradients and AdamW state present):");
        Console.WriteLine();
        Console.WriteLine("| shape | mallinfo2 (one read) | weights: dedup of parameters + buffers | gradients: native grad lookup + dedup | optimizer state: state table + state fields + dedup | of which listing only | idle phase scope (open + close, no work) |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (ShapeResult r in results)
        {
            Pieces p = r.Pieces;
            Console.WriteLine(Invariant(
                $"| {r.Shape.Name} | {p.Mallinfo:0.0} | {p.Weights:0} | {p.Gradients:0} | {p.OptimizerState:0} | {p.OptimizerListing:0} | {p.IdleScope:0} |"));
        }

        (double objects, double log) = KeptSnapshotsCollection();
        Console.WriteLine();
        Console.WriteLine(Invariant($"A 10,000-step run's 40,000 snapshots, kept for the whole run, add {objects:0} µs to each per-step full collection as objects (a record and an array each), {log:0} µs in the accountant's log."));
    }

    /// <summary>
    /// What a long run's kept snapshots add to each per-step full collection: 40,000 (a 10,000-step
    /// run's) kept as objects, as the accountant kept them before, and in its <see cref="MemorySnapshotLog"/>.
    /// µs per collection above one with neither.
    /// </summary>
    private static (double Objects, double Log) KeptSnapshotsCollection(int snapshots = 40_000)
    {
        static double Collect()
        {
            const int Times = 30;
            GC.Collect();
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < Times; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }

            return Stopwatch.GetElapsedTime(start).TotalMicroseconds / Times;
        }

        IReadOnlyList<Phase> phases = Phase.All;
        double none = Collect();
        var objects = new List<MemorySnapshot>(snapshots);
        for (int i = 0; i < snapshots; i++)
        {
            objects.Add(new MemorySnapshot(i / 4, phases[i % 4], new long[MemoryCategories.All.Count], i, i, 1e-3));
        }

        double asObjects = Collect() - none;
        GC.KeepAlive(objects);
        objects = null;
        var log = new MemorySnapshotLog();
        long[] bytes = new long[MemoryCategories.All.Count];
        for (int i = 0; i < snapshots; i++)
        {
            log.Add(i / 4, phases[i % 4], bytes, i, i, 1e-3);
        }

        double inLog = Collect() - none;
        GC.KeepAlive(log);
        return (asObjects, inLog);
    }

    private static ShapeResult Measure(BenchShape shape, long runtime, int blocks, int stepsPerBlock, int warmUp)
    {
        using var loop = new TrainingLoop(shape, Seed);
        long parameters = loop.Trainable.Sum(p => p.numel());

        // Warm-up both ways: JIT (including the accountant's paths), libtorch's kernels, AdamW state.
        if (s_exact)
        {
            CpuAllocator.UseSettledGlibcThresholds(settled: true);
        }

        for (int i = 0; i < warmUp; i++)
        {
            loop.Step(null, null);
        }

        if (s_exact)
        {
            CpuAllocator.UseSettledGlibcThresholds(settled: false);
        }

        // One accountant for the whole measurement, as a run attaches one for all its steps: what it
        // does once (listing the weights, learning which phases the loop marks) is not a step's cost.
        using MemoryAccountant accountant = loop.Attach(runtime);
        for (int i = 0; i < warmUp; i++)
        {
            loop.Step(accountant, new long[4]);
        }

        // Where the accounting's time goes inside the scopes, from here on (the warm-up's first calls
        // include the JIT's compilation of every path).
        accountant.Timings = new();
        var on = new List<double>();
        var off = new List<double>();
        var pairOverhead = new double[blocks];
        long[] scopeTicks = new long[4];
        long samplerNs = 0, samplerOffNs = 0, processOnNs = 0, processOffNs = 0;
        var on0 = new Runtime();
        var off0 = new Runtime();
        for (int b = 0; b < blocks; b++)
        {
            bool onFirst = b % 2 == 0;
            double onMedian = 0, offMedian = 0;
            for (int half = 0; half < 2; half++)
            {
                if ((half == 0) == onFirst)
                {
                    if (s_exact)
                    {
                        CpuAllocator.UseSettledGlibcThresholds(settled: false);
                    }

                    long sampler0 = ThreadCpu.Nanoseconds(ThreadCpu.PeakSamplerName);
                    long process0 = ThreadCpu.Nanoseconds();
                    (long jit0, long gc0, long allocated0) = (JitNanoseconds(), loop.CollectTicks, GC.GetAllocatedBytesForCurrentThread());
                    var times = new double[stepsPerBlock];
                    for (int i = 0; i < stepsPerBlock; i++)
                    {
                        times[i] = loop.Step(accountant, scopeTicks);
                    }

                    processOnNs += ThreadCpu.Nanoseconds() - process0;
                    on0.Add(JitNanoseconds() - jit0, loop.CollectTicks - gc0, GC.GetAllocatedBytesForCurrentThread() - allocated0);
                    samplerNs += ThreadCpu.Nanoseconds(ThreadCpu.PeakSamplerName) - sampler0;
                    on.AddRange(times);
                    onMedian = Median(times);
                }
                else
                {
                    if (s_exact)
                    {
                        CpuAllocator.UseSettledGlibcThresholds(settled: true);
                    }

                    // The sampler thread may still tick for a while after the "on" block (it parks
                    // when phases stop coming): charged to the hooks, not to the "off" steps.
                    long sampler0 = ThreadCpu.Nanoseconds(ThreadCpu.PeakSamplerName);
                    long process0 = ThreadCpu.Nanoseconds();
                    (long jit0, long gc0, long allocated0) = (JitNanoseconds(), loop.CollectTicks, GC.GetAllocatedBytesForCurrentThread());
                    var times = new double[stepsPerBlock];
                    for (int i = 0; i < stepsPerBlock; i++)
                    {
                        times[i] = loop.Step(null, null);
                    }

                    processOffNs += ThreadCpu.Nanoseconds() - process0;
                    off0.Add(JitNanoseconds() - jit0, loop.CollectTicks - gc0, GC.GetAllocatedBytesForCurrentThread() - allocated0);
                    samplerOffNs += ThreadCpu.Nanoseconds(ThreadCpu.PeakSamplerName) - sampler0;
                    off.AddRange(times);
                    offMedian = Median(times);
                }
            }

            // Block medians: on a shared machine single steps stall for seconds now and then.
            pairOverhead[b] = 100 * (onMedian / offMedian - 1);
        }

        double half95 = TQuantile975(blocks - 1) * StandardDeviation(pairOverhead) / Math.Sqrt(blocks);
        double mean = pairOverhead.Average();
        Dictionary<string, long[]> inside = accountant.Timings;
        accountant.Timings = null;
        return new ShapeResult(shape, parameters, on, off, pairOverhead, mean - half95, mean + half95, scopeTicks, samplerNs, samplerOffNs, processOnNs, processOffNs, on0, off0, inside, MeasurePieces(loop, runtime));
    }

    /// <summary>Each part of what a phase end does, timed alone on the trained model.</summary>
    private static Pieces MeasurePieces(TrainingLoop loop, long runtime)
    {
        const int Calls = 50;
        using MemoryAccountant accountant = loop.Attach(runtime);

        // Idle scopes: nothing runs inside, so this is opening (sampler start) plus closing (categorize),
        // as a forward scope does them. zero_grad has run, so there are no gradients, as at the start of a forward phase.
        double idle = Time(Calls, () =>
        {
            using (accountant.Phase(0, Phase.Forward))
            {
            }
        });

        loop.Step(null, null, keepGradients: true);
        double mallinfo = Time(Calls * 20, () => CpuAllocator.InUseBytes());
        double weights = Time(Calls, () =>
        {
            var seen = new StorageSet();
            seen.ClaimAll(loop.Model.parameters());
            seen.ClaimAll(loop.Model.buffers());
        });
        // The parameters are listed once per run, as the accountant lists them.
        TorchSharp.Modules.Parameter[] parameters = [.. loop.Model.parameters()];
        double gradients = Time(Calls, () =>
        {
            var seen = new StorageSet();
            foreach (var parameter in parameters)
            {
                seen.ClaimGradientOf(parameter);
            }
        });
        double optimizerState = Time(Calls, () => new StorageSet().ClaimAll(OptimizerStateTensors.Of(loop.Optimizer)));
        double optimizerListing = Time(Calls, () => OptimizerStateTensors.Of(loop.Optimizer).Count());
        loop.ZeroGrad();
        return new Pieces(mallinfo, weights, gradients, optimizerState, optimizerListing, idle);
    }

    /// <summary>Mean µs per call of <paramref name="action"/> over <paramref name="calls"/> calls, after a few untimed ones.</summary>
    private static double Time(int calls, Action action)
    {
        for (int i = 0; i < 5; i++)
        {
            action();
        }

        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < calls; i++)
        {
            action();
        }

        return Stopwatch.GetElapsedTime(start).TotalMicroseconds / calls;
    }

    /// <summary>Whether the runtime was started with tiered compilation off (the environment or runtimeconfig says so).</summary>
    private static bool TieredCompilationOff() =>
        Environment.GetEnvironmentVariable("DOTNET_TieredCompilation") == "0"
        || Environment.GetEnvironmentVariable("COMPlus_TieredCompilation") == "0"
        || AppContext.GetData("System.Runtime.TieredCompilation") is false or "false";

    /// <summary>Time the JIT has spent compiling so far, on every thread (it only grows, unlike a thread that may exit).</summary>
    private static long JitNanoseconds() => (long)System.Runtime.JitInfo.GetCompilationTime().TotalNanoseconds;

    private static double Micros(long ticks) => ticks * 1e6 / Stopwatch.Frequency;

    private static double Mean(IReadOnlyList<double> values) => values.Average();

    private static double Median(IReadOnlyList<double> values)
    {
        double[] sorted = [.. values.Order()];
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    private static double StandardDeviation(double[] values)
    {
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Length - 1));
    }

    /// <summary>Student's t 97.5 % quantile for <paramref name="df"/> degrees of freedom (two-sided 95 %).</summary>
    private static double TQuantile975(int df)
    {
        double[] table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042];
        return df <= table.Length ? table[df - 1] : 1.96;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private sealed record Pieces(double Mallinfo, double Weights, double Gradients, double OptimizerState, double OptimizerListing, double IdleScope);

    private sealed record ShapeResult(
        BenchShape Shape,
        long Parameters,
        List<double> On,
        List<double> Off,
        double[] PairOverhead,
        double IntervalLow,
        double IntervalHigh,
        long[] ScopeTicks,
        long SamplerNs,
        long SamplerOffNs,
        long ProcessOnNs,
        long ProcessOffNs,
        Runtime OnRuntime,
        Runtime OffRuntime,
        Dictionary<string, long[]> Inside,
        Pieces Pieces);

    /// <summary>What the .NET runtime spent in one arm: JIT compilation, the per-step collection, and managed allocation.</summary>
    private sealed class Runtime
    {
        public long JitNs { get; private set; }

        public long CollectTicks { get; private set; }

        public long AllocatedBytes { get; private set; }

        public void Add(long jitNs, long collectTicks, long allocatedBytes)
        {
            JitNs += jitNs;
            CollectTicks += collectTicks;
            AllocatedBytes += allocatedBytes;
        }
    }
}
