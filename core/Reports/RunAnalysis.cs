using System.Globalization;
using Gputel.Core.Estimation;
using Gputel.Core.Memory;
using Gputel.Core.Records;
using Gputel.Core.Training;

namespace Gputel.Core.Reports;

/// <summary>
/// Turns a run record into its <see cref="RunSummary"/>: the peak, per-phase peaks, status, the
/// estimate beside the measurement, and the warnings. Reads only what the record holds.
/// </summary>
public static class RunAnalysis
{
    /// <summary>Above this share of the peak, the allocator's cache gets a warning.</summary>
    public const double CacheWarningShare = 0.20;

    /// <summary>Above this share of the peak (either sign), unattributed memory gets a warning.</summary>
    public const double UnattributedWarningShare = 0.05;

    /// <summary>The setting FineTuneRun records: malloc's in-use bytes before the model existed.</summary>
    internal const string BaselineSetting = "allocator_baseline_bytes";

    private static readonly string TemporaryName = MemoryCategory.Temporary.ToName();

    /// <summary>
    /// Summarizes <paramref name="record"/>. <paramref name="isAlive"/> tells whether the process
    /// that wrote it still runs (default: <see cref="RunProcess.IsAlive"/>).
    /// </summary>
    public static RunSummary Summarize(RunRecordReader record, Func<RunProcess, bool>? isAlive = null)
    {
        ArgumentNullException.ThrowIfNull(record);
        var warnings = record.Warnings.Select(w => Relative(w, record.Directory)).ToList();
        IReadOnlyList<StepLine> steps = record.Steps;
        IReadOnlyList<string> categories = Categories(steps);
        // Totals first, one pass without allocating; a PhaseMemory only for the lines reported.
        long[] totals = new long[steps.Count];
        for (int i = 0; i < steps.Count; i++)
        {
            totals[i] = Total(steps, i, categories);
        }

        var phases = new List<Phase>();
        var step0 = new Dictionary<Phase, int>();
        var later = new Dictionary<Phase, int>();
        int peakIndex = -1, firstStepPeak = -1;
        for (int i = 0; i < steps.Count; i++)
        {
            Phase phase = steps[i].Phase;
            if (!phases.Contains(phase))
            {
                phases.Add(phase);
            }

            // Step 0 includes one-time set-up; the peak is taken over the steps after it when there are any.
            Dictionary<Phase, int> window = steps[i].Step == 0 ? step0 : later;
            if (!window.TryGetValue(phase, out int best) || Higher(i, best))
            {
                window[phase] = i;
            }

            ref int overall = ref steps[i].Step == 0 ? ref firstStepPeak : ref peakIndex;
            if (overall < 0 || Higher(i, overall))
            {
                overall = i;
            }
        }

        // The allocator's peak decides, not the stacked total: a phase that shrinks memory (backward
        // frees the activations) records its temporaries above its larger start, so its end-of-phase
        // categories plus them fall short of its real peak. The total only breaks ties (records whose
        // peaks are all equal or absent).
        bool Higher(int i, int j) => steps[i].PeakBytes != steps[j].PeakBytes ? steps[i].PeakBytes > steps[j].PeakBytes : totals[i] > totals[j];

        PhaseMemory? At(int index) => index < 0 ? null : Memory(steps, index, categories);
        int? lastStep = steps.Count == 0 ? null : steps[^1].Step;

        (RunStatus status, string detail) = Status(record, lastStep, isAlive ?? (p => p.IsAlive()));
        if (status is RunStatus.CutOff or RunStatus.Failed)
        {
            warnings.Add(detail);
        }

        // A CPU run measured in a process that kept the JIT's slab cache on (a library host that did
        // not start with DOTNET_JitHostMaxSlabCache=0; gputel finetune turns it off).
        if (record.Info is { Device.IsCpu: true } info && info.Settings.TryGetValue(JitSlabCache.Setting, out string? jit) && jit == "on")
        {
            warnings.Add("the run's process kept the .NET JIT's slab cache on: up to 16 MiB of the JIT's memory, freed a few seconds in, can show as negative unattributed (start the process with DOTNET_JitHostMaxSlabCache=0, as gputel finetune does)");
        }

        PhaseMemory? peak = At(peakIndex >= 0 ? peakIndex : firstStepPeak);
        if (peak is null)
        {
            warnings.Add("no complete step line was recorded: there is no peak to report");
        }
        else
        {
            warnings.AddRange(PeakWarnings(peak, onGpu: record.Info?.Device.IsCuda == true));
        }

        var phasePeaks = phases.Select(p => new PhasePeak(
            p,
            At(step0.TryGetValue(p, out int first) ? first : -1),
            At(later.TryGetValue(p, out int highest) ? highest : -1))).ToList();

        EstimateSummary? estimate = Estimate(record.Info, peak, warnings);
        return new RunSummary(
            record.Directory,
            record.Info?.RunId,
            record.Info?.Model,
            record.Info?.Method,
            record.Info?.Dtype,
            record.Info?.Device.ToString(),
            status,
            detail,
            steps.Select(l => l.Step).Distinct().Count(),
            lastStep,
            steps.Count,
            phases,
            peak,
            peak is null ? [] : TopConsumers(peak),
            phasePeaks,
            estimate,
            Samples(record),
            warnings);
    }

    /// <summary>Category names: the known ones in their usual order, then any others the record has.</summary>
    internal static IReadOnlyList<string> Categories(IReadOnlyList<StepLine> steps)
    {
        var names = MemoryCategories.All.Select(c => c.ToName()).ToList();
        var known = new HashSet<string>(names, StringComparer.Ordinal);
        foreach (StepLine line in steps)
        {
            foreach (string name in line.Bytes.Keys)
            {
                if (known.Add(name))
                {
                    names.Add(name);
                }
            }
        }

        return names;
    }

    /// <summary>Every category of line <paramref name="index"/> added up as at its peak (<see cref="Shown"/>): the height the chart stacks it to.</summary>
    internal static long Total(IReadOnlyList<StepLine> steps, int index, IReadOnlyList<string> categories)
    {
        (StepLine basis, long temporary) = AtPeak(steps, index);
        long total = 0;
        foreach (string category in categories)
        {
            total += Shown(basis, temporary, category);
        }

        return total;
    }

    /// <summary>
    /// Where line <paramref name="index"/>'s categories at its peak come from, and its temporary
    /// there, by <see cref="MemorySnapshot.BytesAtPeak"/>'s rule: the line before it (the phase's
    /// start) where the phase began where that one ended and ended lower (backward, which frees the
    /// activations it began with), else the line itself, with temporary as the peak above that figure.
    /// </summary>
    internal static (StepLine Basis, long Temporary) AtPeak(IReadOnlyList<StepLine> steps, int index)
    {
        StepLine line = steps[index];
        long recorded = line.Bytes.TryGetValue(TemporaryName, out long t) ? t : 0;
        if (index > 0 && steps[index - 1] is var before
            && MemorySnapshot.PeakStandsOnStart(line.Step, line.Phase, line.AllocatorBytes, before.Step, before.AllocatorBytes))
        {
            return (before, MemorySnapshot.TemporaryAtPeak(recorded, line.PeakBytes, before.AllocatorBytes));
        }

        return (line, MemorySnapshot.TemporaryAtPeak(recorded, line.PeakBytes, line.AllocatorBytes));
    }

    /// <summary>The bytes of <paramref name="category"/> at a peak: <paramref name="temporary"/> for temporary, else <paramref name="basis"/>'s figure.</summary>
    internal static long Shown(StepLine basis, long temporary, string category) =>
        category == TemporaryName ? temporary : basis.Bytes.TryGetValue(category, out long b) ? b : 0;

    /// <summary>Line <paramref name="index"/> with its categories as at its peak (<see cref="AtPeak"/>), adding up to it.</summary>
    internal static PhaseMemory Memory(IReadOnlyList<StepLine> steps, int index, IReadOnlyList<string> categories)
    {
        StepLine line = steps[index];
        (StepLine basis, long temporary) = AtPeak(steps, index);
        var bytes = new Dictionary<string, long>(categories.Count, StringComparer.Ordinal);
        long total = 0;
        foreach (string category in categories)
        {
            long value = Shown(basis, temporary, category);
            bytes[category] = value;
            total += value;
        }

        return new PhaseMemory(line.Step, line.Phase, total, line.AllocatorBytes, line.PeakBytes, bytes, ReferenceEquals(basis, line) ? null : basis.Phase);
    }

    private static (RunStatus, string) Status(RunRecordReader record, int? lastStep, Func<RunProcess, bool> isAlive)
    {
        // Steps are numbered from 0 in the record: "after step 4" is the fifth completed.
        string after = lastStep is { } s ? $"after step {s} (steps count from 0)" : "before its first step was recorded";
        if (record.End is { Error: { } error } failed)
        {
            return (RunStatus.Failed, string.Create(CultureInfo.InvariantCulture,
                $"run failed {after}, with {failed.StepsCompleted} of {failed.StepsPlanned} planned steps completed: {error}"));
        }

        if (record.End is { } end)
        {
            return end.Cancelled
                ? (RunStatus.CutOff, string.Create(CultureInfo.InvariantCulture, $"run stopped {after}: {end.StepsCompleted} of {end.StepsPlanned} planned steps completed"))
                : (RunStatus.Complete, string.Create(CultureInfo.InvariantCulture, $"run complete: {end.StepsCompleted} steps, ended {end.EndTime:yyyy-MM-dd HH:mm:ss} UTC"));
        }

        if (record.Info?.Process is not { } writer)
        {
            return (RunStatus.CutOff, $"run cut off {after}: no end marker (end.json), and run.json does not name the process that wrote it");
        }

        return isAlive(writer)
            ? (RunStatus.InProgress, string.Create(CultureInfo.InvariantCulture, $"run in progress: process {writer.Pid} on {writer.Host} is still writing it (last step so far: {lastStep?.ToString(CultureInfo.InvariantCulture) ?? "none"})"))
            : (RunStatus.CutOff, string.Create(CultureInfo.InvariantCulture, $"run cut off {after}: no end marker (end.json) and its process ({writer.Pid} on {writer.Host}) is gone"));
    }

    internal static IEnumerable<string> PeakWarnings(PhaseMemory peak, bool onGpu)
    {
        long Get(MemoryCategory c) => peak.Bytes.TryGetValue(c.ToName(), out long b) ? b : 0;
        string At = $"at the peak (step {peak.Step}, {peak.Phase})";
        long optimizer = Get(MemoryCategory.OptimizerState);
        long weights = Get(MemoryCategory.Weights) + Get(MemoryCategory.QuantizedWeights) + Get(MemoryCategory.LoraAdapters);
        // On a GPU only: there it is memory a run could win back; in host memory AdamW's two moments
        // per parameter are the expected state of every full run, and a warning would always show.
        // Not where the weights are unknown (a snapshot recorded after they were loaded).
        if (onGpu && optimizer > weights && Get(MemoryCategory.BeforeRecording) == 0)
        {
            yield return $"optimizer state on the GPU larger than weights {At}: {ByteText.Format(optimizer)} against {ByteText.Format(weights)} (an 8-bit optimizer, ZeRO sharding or offloading the state would shrink it)";
        }

        long cache = Get(MemoryCategory.AllocatorCache);
        if (peak.TotalBytes > 0 && cache > CacheWarningShare * peak.TotalBytes)
        {
            yield return $"allocator cache above {CacheWarningShare:0%} of peak {At}: {ByteText.Format(cache)} of {ByteText.Format(peak.TotalBytes)}";
        }

        long unattributed = Get(MemoryCategory.Unattributed);
        if (peak.TotalBytes > 0 && Math.Abs(unattributed) > UnattributedWarningShare * peak.TotalBytes)
        {
            yield return $"unattributed above {UnattributedWarningShare:0%} of peak {At}: {ByteText.Format(unattributed)} of {ByteText.Format(peak.TotalBytes)}";
        }
    }

    internal static List<CategoryShare> TopConsumers(PhaseMemory peak) =>
        peak.Bytes.Where(kv => kv.Value > 0)
            .OrderByDescending(kv => kv.Value)
            .Select(kv => new CategoryShare(kv.Key, kv.Value, peak.TotalBytes > 0 ? (double)kv.Value / peak.TotalBytes : 0))
            .ToList();

    private static EstimateSummary? Estimate(RunInfo? info, PhaseMemory? peak, List<string> warnings)
    {
        if (info is null)
        {
            warnings.Add("no estimate: run.json is missing or unreadable, so the configuration is unknown");
            return null;
        }

        MemoryEstimate estimate;
        try
        {
            EstimateRequest request = EstimateRequest.FromRunInfo(info);
            if (request.Device.IsCpu && peak is not null && peak.Bytes.TryGetValue(MemoryCategory.Runtime.ToName(), out long runtime))
            {
                // On the CPU the runtime is the math libraries' buffers on this machine, which
                // `gputel estimate --device cpu` measures rather than predicts; the run has measured
                // it already, and a typical figure would only blur the comparison of the rest.
                request = request with { MeasuredRuntime = new RuntimeMeasurement(runtime, "as this run measured it (on the CPU the math libraries' buffers are measured, not predicted: gputel estimate --device cpu does the same with a one-layer run)") };
            }

            estimate = MemoryEstimator.Estimate(request);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or KeyNotFoundException or IOException or NotSupportedException or InvalidOperationException)
        {
            warnings.Add($"no estimate: {e.Message}");
            return null;
        }

        var categories = estimate.Lines.Select(l => new CategoryEstimate(
            l.Category.ToName(),
            l.Bytes,
            peak is not null && peak.Bytes.TryGetValue(l.Category.ToName(), out long measured) ? measured : 0,
            l.Formula)).ToList();
        return new EstimateSummary(estimate.PeakPhase, estimate.PeakBytes, peak?.TotalBytes ?? 0, estimate.ModelStateOnlyBytes, estimate.ModelStateOnlyFormula, categories);
    }

    private static SampleSummary Samples(RunRecordReader record)
    {
        IReadOnlyList<SampleLine> samples = record.Samples;
        if (samples.Count == 0)
        {
            return new SampleSummary(0, -1, "no samples recorded", 0, null, 0);
        }

        int gpu = LineGpu(samples);
        long offset = LineOffset(record.Info, gpu);
        long max = long.MinValue;
        long? maxProcess = null;
        foreach (SampleLine s in samples)
        {
            if (s.Gpu != gpu)
            {
                continue;
            }

            max = Math.Max(max, LineFigure(s) - offset);
            if (s.ProcessUsedBytes is { } p)
            {
                maxProcess = Math.Max(maxProcess ?? long.MinValue, p);
            }
        }

        return new SampleSummary(samples.Count, gpu, LineSource(gpu, offset), max, maxProcess, offset);
    }

    /// <summary>The device the line follows: the first GPU the samples name, else the host.</summary>
    internal static int LineGpu(IReadOnlyList<SampleLine> samples)
    {
        foreach (SampleLine s in samples)
        {
            if (s.Gpu >= 0)
            {
                return s.Gpu;
            }
        }

        return -1;
    }

    /// <summary>
    /// The figure drawn for a sample: on a GPU, NVML's per-process figure where known (what the
    /// categories add up to there); on the host, malloc's in-use bytes (what the categories add up
    /// to on the CPU; the resident set also counts code, stacks and the .NET heap).
    /// </summary>
    internal static long LineFigure(SampleLine sample) =>
        sample.Gpu >= 0 ? sample.ProcessUsedBytes ?? sample.UsedBytes : sample.UsedBytes;

    /// <summary>On the host, the malloc baseline the phase figures are measured above, when run.json records it.</summary>
    internal static long LineOffset(RunInfo? info, int gpu) =>
        gpu < 0 && info is not null && info.Settings.TryGetValue(BaselineSetting, out string? text)
            && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long baseline)
            ? baseline
            : 0;

    private static string LineSource(int gpu, long offset) => gpu >= 0
        ? string.Create(CultureInfo.InvariantCulture, $"GPU {gpu}: this process's memory as NVML sees it (samples.jsonl process_used_bytes; used_bytes where absent)")
        : offset > 0
            ? $"host: malloc in use (samples.jsonl used_bytes, glibc mallinfo2, whole process) minus the {ByteText.Format(offset)} in use before the model existed, the baseline the categories are measured above"
            : "host: malloc in use (samples.jsonl used_bytes, glibc mallinfo2, whole process, nothing subtracted)";

    private static string Relative(string warning, string directory)
    {
        string prefix = directory.EndsWith(Path.DirectorySeparatorChar) ? directory : directory + Path.DirectorySeparatorChar;
        return warning.StartsWith(prefix, StringComparison.Ordinal) ? warning[prefix.Length..] : warning;
    }
}
