using Gputel.Core.Memory;
using Gputel.Core.Training;

namespace Gputel.Core.Estimation;

/// <summary>One category of an estimate: its bytes at the predicted peak and the formula behind them.</summary>
/// <param name="Category">The memory category.</param>
/// <param name="Bytes">Bytes at the predicted peak (per GPU).</param>
/// <param name="Formula">How the figure was computed, with the numbers filled in.</param>
public sealed record EstimateLine(MemoryCategory Category, long Bytes, string Formula);

/// <summary>
/// What a configuration needs, by category, at its peak moment (the phase that peaks), plus the
/// figure the usual tables give (model state only), so the gap is visible.
/// </summary>
/// <param name="Request">What was estimated.</param>
/// <param name="Lines">One line per category, in <see cref="MemoryCategories.All"/> order.</param>
/// <param name="PeakPhase">The phase at whose peak the categories are taken.</param>
/// <param name="ModelStateOnlyBytes">Weights, gradients and optimizer state as the common tables count them.</param>
/// <param name="ModelStateOnlyFormula">The rule behind <paramref name="ModelStateOnlyBytes"/>.</param>
public sealed record MemoryEstimate(
    EstimateRequest Request,
    IReadOnlyList<EstimateLine> Lines,
    Phase PeakPhase,
    long ModelStateOnlyBytes,
    string ModelStateOnlyFormula)
{
    /// <summary>Bytes of one category.</summary>
    public long this[MemoryCategory category] => Lines[(int)category].Bytes;

    /// <summary>Activations at the end of forward (all of them alive), whichever phase peaks.</summary>
    public long ForwardActivations { get; init; }

    /// <summary>Gradients at the end of backward (all of them present), whichever phase peaks.</summary>
    public long BackwardGradients { get; init; }

    /// <summary>The predicted peak: the sum of every category.</summary>
    public long PeakBytes => Lines.Sum(l => l.Bytes);
}
