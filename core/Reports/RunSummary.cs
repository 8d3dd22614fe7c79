using Gputel.Core.Training;

namespace Gputel.Core.Reports;

/// <summary>
/// One phase of one step as <c>steps.jsonl</c> recorded it, with its categories as at the phase's
/// peak (<see cref="Gputel.Core.Memory.MemorySnapshot.BytesAtPeak"/>): the height the report's
/// chart stacks it to.
/// </summary>
/// <param name="Step">Training step, from 0.</param>
/// <param name="Phase">Phase name.</param>
/// <param name="TotalBytes">
/// Every category added up: the phase's allocator peak (on a GPU, plus the allocator's cache and the
/// runtime).
/// </param>
/// <param name="AllocatorBytes">The allocator's in-use bytes at the end of the phase.</param>
/// <param name="PeakBytes">The allocator's peak inside the phase.</param>
/// <param name="Bytes">
/// Bytes per category (snake_case names, every category of the record) at the peak: the categories
/// of the phase's end or, for a phase that began where the one before it ended and fell from there
/// (backward frees the activations it began with), of its start; temporary is the peak above that
/// figure (at least what the phase recorded).
/// </param>
/// <param name="StartedFrom">
/// Where <paramref name="Bytes"/> are the phase's start, the phase whose end it began from (forward
/// for a backward pass); null where they are the phase's own end.
/// </param>
/// <param name="AtPeakItself">
/// True where <paramref name="Bytes"/> are the categories at the peak moment itself (a PyTorch
/// snapshot, replayed event by event), not at one of the phase's ends.
/// </param>
public sealed record PhaseMemory(int Step, Phase Phase, long TotalBytes, long AllocatorBytes, long PeakBytes, IReadOnlyDictionary<string, long> Bytes, Phase? StartedFrom = null, bool AtPeakItself = false)
{
    /// <summary>What <see cref="Bytes"/> are, in words for a report: the phase's end, or its start where it fell from there.</summary>
    public string DescribeBasis() => AtPeakItself
        ? "the categories of the blocks in use at that moment, replayed event by event, and allocator_cache as reserved minus in use"
        : StartedFrom is { } from
        ? $"the categories {Phase} began with, at the end of {from}, since it frees them as it goes, and temporary as what it allocated above them"
        : "the categories at the end of the phase, and temporary as the peak above that end";
}

/// <summary>A phase's highest point in step 0 (which includes one-time set-up) and in the steps after it.</summary>
/// <param name="Phase">Phase name.</param>
/// <param name="Step0">The phase in step 0, or null when step 0 was not recorded.</param>
/// <param name="LaterSteps">The phase in the step (1 or later) where its allocator peak was highest, or null when the run has no later step.</param>
public sealed record PhasePeak(Phase Phase, PhaseMemory? Step0, PhaseMemory? LaterSteps);

/// <summary>A category's bytes at the peak and its share of the peak's total.</summary>
/// <param name="Category">Category name.</param>
/// <param name="Bytes">Bytes at the peak.</param>
/// <param name="Share">Fraction of the peak's total (0-1).</param>
public sealed record CategoryShare(string Category, long Bytes, double Share);

/// <summary>One category of the estimate next to what was measured.</summary>
/// <param name="Category">Category name.</param>
/// <param name="EstimateBytes">What the estimator predicts at its peak phase.</param>
/// <param name="MeasuredBytes">What the run measured at its peak.</param>
/// <param name="Formula">How the estimate was computed.</param>
public sealed record CategoryEstimate(string Category, long EstimateBytes, long MeasuredBytes, string Formula);

/// <summary>The estimator's figures for the run's configuration, beside the measured peak.</summary>
/// <param name="PeakPhase">The phase the estimator predicts to peak.</param>
/// <param name="PeakBytes">The estimated peak (every category).</param>
/// <param name="MeasuredPeakBytes">The measured peak's total.</param>
/// <param name="ModelStateOnlyBytes">Weights, gradients and optimizer state as the common tables count them.</param>
/// <param name="ModelStateOnlyFormula">The rule behind <paramref name="ModelStateOnlyBytes"/>.</param>
/// <param name="Categories">Every category, estimate and measurement.</param>
public sealed record EstimateSummary(Phase PeakPhase, long PeakBytes, long MeasuredPeakBytes, long ModelStateOnlyBytes, string ModelStateOnlyFormula, IReadOnlyList<CategoryEstimate> Categories);

/// <summary>What <c>samples.jsonl</c> holds: the line drawn over the chart.</summary>
/// <param name="Count">Sample lines read.</param>
/// <param name="Gpu">The device the line follows: a GPU index, or -1 for the host.</param>
/// <param name="Source">What the line's figure is, in words (the chart legend's text).</param>
/// <param name="MaxBytes">The line's highest figure, as drawn.</param>
/// <param name="MaxProcessBytes">The highest per-process figure (NVML's on a GPU, the resident set on the host), where samples carry one.</param>
/// <param name="OffsetBytes">Bytes subtracted from every sample to draw the line on the categories' scale (0 when none).</param>
public sealed record SampleSummary(int Count, int Gpu, string Source, long MaxBytes, long? MaxProcessBytes, long OffsetBytes);

/// <summary>
/// The machine-readable summary of a run (<c>summary.json</c>): status, peak, per-phase peaks, top
/// consumers, estimate against measurement, warnings. The HTML and Markdown reports show these same
/// numbers.
/// </summary>
/// <param name="RunDirectory">The run record directory.</param>
/// <param name="RunId">The run's id, or null when <c>run.json</c> is unreadable.</param>
/// <param name="Model">Model shape or checkpoint.</param>
/// <param name="Method">Fine-tuning method.</param>
/// <param name="Dtype">Parameter dtype.</param>
/// <param name="Device">Where the run computed.</param>
/// <param name="Status">Complete, in progress or cut off.</param>
/// <param name="StatusDetail">Why the status is what it is, in a sentence.</param>
/// <param name="Steps">Steps with at least one recorded phase.</param>
/// <param name="LastStep">The last step recorded, or null when none was.</param>
/// <param name="PhaseLines">Step lines read.</param>
/// <param name="Phases">Phase names in the order the run went through them.</param>
/// <param name="Peak">The phase with the highest allocator peak (steps 1 and later when there are any, since step 0 includes set-up).</param>
/// <param name="TopConsumers">Categories at the peak, largest first (those above zero).</param>
/// <param name="PhasePeaks">Per phase: step 0 and the highest later step.</param>
/// <param name="Estimate">The estimate for the run's configuration, or null when it could not be made (see warnings).</param>
/// <param name="Samples">The samples, or what is known of them.</param>
/// <param name="Warnings">What the reader should know, one sentence each.</param>
public sealed record RunSummary(
    string RunDirectory,
    string? RunId,
    string? Model,
    string? Method,
    string? Dtype,
    string? Device,
    RunStatus Status,
    string StatusDetail,
    int Steps,
    int? LastStep,
    int PhaseLines,
    IReadOnlyList<Phase> Phases,
    PhaseMemory? Peak,
    IReadOnlyList<CategoryShare> TopConsumers,
    IReadOnlyList<PhasePeak> PhasePeaks,
    EstimateSummary? Estimate,
    SampleSummary Samples,
    IReadOnlyList<string> Warnings)
{
    /// <summary>What was reported: <c>run_record</c> (gputel finetune) or <c>pytorch_snapshot</c> (torch.cuda.memory._dump_snapshot).</summary>
    public string Source { get; init; } = "run_record";

    /// <summary>For a PyTorch snapshot: the allocation sites of what was in use at the peak, largest first; empty for a run record.</summary>
    public IReadOnlyList<Snapshots.AllocationSite> AllocationSites { get; init; } = [];

    /// <summary>For a PyTorch snapshot: the allocations that failed for want of memory; empty for a run record.</summary>
    public IReadOnlyList<Snapshots.OutOfMemory> OutOfMemory { get; init; } = [];

    /// <summary>
    /// Which steps <see cref="Peak"/> is the highest of, in words for a report: the steps after the
    /// first where there are any (step 0 holds one-time set-up), with step 0's own peak where it
    /// was higher, since that is the run's highest point too.
    /// </summary>
    public string DescribePeakScope()
    {
        if (Peak is not { } peak)
        {
            return "no peak";
        }

        if (Source == "pytorch_snapshot")
        {
            return $"the highest bytes in use over the whole trace, {ByteText.Format(peak.PeakBytes)}, replayed event by event";
        }

        if (peak.Step == 0)
        {
            return $"the highest allocator peak, {ByteText.Format(peak.PeakBytes)}, of step 0, the only step recorded (it includes one-time set-up)";
        }

        long step0 = PhasePeaks.Select(p => p.Step0?.PeakBytes ?? long.MinValue).DefaultIfEmpty(long.MinValue).Max();
        string first = step0 > peak.PeakBytes
            ? $"; step 0, with its one-time set-up, reached {ByteText.Format(step0)}"
            : "";
        return $"the highest allocator peak after step 0, {ByteText.Format(peak.PeakBytes)}{first}";
    }
}
