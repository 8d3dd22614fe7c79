using Gputel.Core.Data;

namespace Gputel.Core.Estimation;

/// <summary>One configuration that fits, with its estimate and what it costs.</summary>
/// <param name="Labels">The value of each dimension (<see cref="FitResult.Dimensions"/> order).</param>
/// <param name="Request">The configuration, its cutoff as set (before padding to the data).</param>
/// <param name="Estimate">The estimate of its largest batch: every sequence <see cref="BatchLength"/> tokens.</param>
/// <param name="BatchLength">Tokens each sequence of the largest batch is padded to: the cutoff, or with a dataset its longest example cut to the cutoff.</param>
/// <param name="Typical">With a dataset, the estimate of a typical batch (its median padded length); otherwise null.</param>
/// <param name="TypicalLength">Tokens of the typical batch; null without a dataset.</param>
/// <param name="HeadroomBytes">GPU memory left at the peak: the GPU's memory less the estimated peak.</param>
/// <param name="ComputeFactor">Compute per sequence relative to the cheapest way (product of the choices').</param>
/// <param name="CommunicationFactor">Communication per step relative to plain data parallelism.</param>
/// <param name="Costs">The speed costs in words, one per choice that has one.</param>
public sealed record FitCandidate(
    IReadOnlyList<string> Labels,
    EstimateRequest Request,
    MemoryEstimate Estimate,
    int BatchLength,
    MemoryEstimate? Typical,
    int? TypicalLength,
    long HeadroomBytes,
    double ComputeFactor,
    double CommunicationFactor,
    IReadOnlyList<string> Costs)
{
    /// <summary>Sequences per optimizer step across every GPU: micro-batch x GPUs x accumulation.</summary>
    public int EffectiveBatch => Request.BatchSize * Request.Gpus * Request.GradientAccumulation;
}

/// <summary>What <see cref="FitSearch.Run"/> found.</summary>
/// <param name="Dimensions">The dimensions searched, in column order.</param>
/// <param name="GpuMemoryBytes">Memory of one GPU.</param>
/// <param name="Margin">The safety margin kept free.</param>
/// <param name="UsableBytes">What a peak may reach: the memory less the margin.</param>
/// <param name="Considered">Distinct configurations estimated.</param>
/// <param name="Fitting">How many of them fit.</param>
/// <param name="Listed">Those worth listing, best first (see <see cref="FitSearch"/>).</param>
/// <param name="Lengths">The dataset's lengths, when given.</param>
public sealed record FitResult(
    IReadOnlyList<FitDimension> Dimensions,
    long GpuMemoryBytes,
    FitMargin Margin,
    long UsableBytes,
    int Considered,
    int Fitting,
    IReadOnlyList<FitCandidate> Listed,
    SequenceLengths? Lengths);

/// <summary>
/// Which fine-tuning configurations fit a GPU: every combination of the dimensions' values is
/// estimated with <see cref="MemoryEstimator"/>, those whose peak is within the memory less the
/// margin are kept, and ranked by what a user gives up least: the longest cutoff (sequences not
/// cut), then the largest effective batch, then the least compute, then the least communication,
/// then the most headroom. Of configurations that differ only in dimensions that do not change the
/// training (<see cref="FitDimension.SameTraining"/>: checkpointing, ZeRO), only the best ranked is
/// listed unless every variant is asked for.
/// </summary>
public static class FitSearch
{
    /// <summary>Searches the combinations of <paramref name="dimensions"/> applied to <paramref name="baseRequest"/>.</summary>
    /// <param name="baseRequest">Model and the settings no dimension changes (dtype, optimizer, LoRA, GPUs, accumulation).</param>
    /// <param name="dimensions">What to vary.</param>
    /// <param name="gpuMemoryBytes">Memory of one GPU.</param>
    /// <param name="margin">What to keep free.</param>
    /// <param name="lengths">A dataset's lengths: batches are then padded to their longest sequence, not the cutoff.</param>
    /// <param name="allVariants">List every fitting configuration, not only the best of each training.</param>
    /// <exception cref="ArgumentException">A configuration is invalid (the estimator's message).</exception>
    public static FitResult Run(EstimateRequest baseRequest, IReadOnlyList<FitDimension> dimensions, long gpuMemoryBytes, FitMargin margin, SequenceLengths? lengths = null, bool allVariants = false)
    {
        ArgumentNullException.ThrowIfNull(baseRequest);
        ArgumentNullException.ThrowIfNull(dimensions);
        ArgumentNullException.ThrowIfNull(margin);
        ArgumentOutOfRangeException.ThrowIfLessThan(gpuMemoryBytes, 1);
        long usable = gpuMemoryBytes - margin.Reserve(gpuMemoryBytes);
        var seen = new HashSet<(EstimateRequest, int?)>();
        var fitting = new List<FitCandidate>();
        int considered = 0;
        foreach (FitChoice[] choices in Combinations(dimensions))
        {
            EstimateRequest request = choices.Aggregate(baseRequest, (r, c) => c.Apply(r));
            int length = lengths is null ? request.CutoffLength : Math.Max(2, lengths.LongestBatchLength(request.CutoffLength));
            int? typicalLength = lengths is null ? null : Math.Max(2, lengths.TypicalBatchLength(request.BatchSize, request.CutoffLength));
            EstimateRequest padded = request with { CutoffLength = length };
            // Cutoffs above the longest example pad to the same batches: the first (shortest) stands for them.
            if (!seen.Add((padded, typicalLength)))
            {
                continue;
            }

            considered++;
            MemoryEstimate estimate = MemoryEstimator.Estimate(padded);
            if (estimate.PeakBytes > usable)
            {
                continue;
            }

            MemoryEstimate? typical = typicalLength is { } t ? MemoryEstimator.Estimate(request with { CutoffLength = t }) : null;
            fitting.Add(new FitCandidate(
                [.. choices.Select(c => c.Label)], request, estimate, length, typical, typicalLength,
                gpuMemoryBytes - estimate.PeakBytes,
                choices.Aggregate(1.0, (f, c) => f * c.ComputeFactor),
                choices.Aggregate(1.0, (f, c) => f * c.CommunicationFactor),
                [.. choices.Where(c => c.Cost is not null).Select(c => c.Cost!)]));
        }

        List<FitCandidate> ranked = [.. fitting
            .OrderByDescending(c => c.Request.CutoffLength)
            .ThenByDescending(c => c.EffectiveBatch)
            .ThenBy(c => c.ComputeFactor)
            .ThenBy(c => c.CommunicationFactor)
            .ThenByDescending(c => c.HeadroomBytes)];
        if (!allVariants)
        {
            int[] training = [.. Enumerable.Range(0, dimensions.Count).Where(i => !dimensions[i].SameTraining)];
            ranked = [.. ranked.DistinctBy(c => string.Join('\u001f', training.Select(i => c.Labels[i])))];
        }

        return new FitResult(dimensions, gpuMemoryBytes, margin, usable, considered, fitting.Count, ranked, lengths);
    }

    private static IEnumerable<FitChoice[]> Combinations(IReadOnlyList<FitDimension> dimensions)
    {
        if (dimensions.Any(d => d.Choices.Count == 0))
        {
            yield break;
        }

        int[] index = new int[dimensions.Count];
        while (true)
        {
            yield return [.. dimensions.Select((d, i) => d.Choices[index[i]])];
            int k = dimensions.Count - 1;
            while (k >= 0 && ++index[k] == dimensions[k].Choices.Count)
            {
                index[k] = 0;
                k--;
            }

            if (k < 0)
            {
                yield break;
            }
        }
    }
}
