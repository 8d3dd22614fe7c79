using System.Globalization;
using Gputel.Core.Training;

namespace Gputel.Core.Estimation;

/// <summary>
/// One value of a <see cref="FitDimension"/>: what it changes in the configuration and what it
/// costs in speed, where that is known.
/// </summary>
/// <param name="Label">How the value is shown (e.g. <c>lora</c>, <c>8</c>, <c>on</c>, <c>3</c>).</param>
/// <param name="Apply">The configuration with this value set.</param>
/// <param name="ComputeFactor">Compute per sequence relative to the value that costs nothing (1): gradient checkpointing's recomputed forward makes it 4/3.</param>
/// <param name="CommunicationFactor">Communication per step relative to plain data parallelism (1): ZeRO-3 gathers the weights in forward and backward, 1.5.</param>
/// <param name="Cost">The speed cost in words; null when there is none.</param>
public sealed record FitChoice(string Label, Func<EstimateRequest, EstimateRequest> Apply, double ComputeFactor = 1, double CommunicationFactor = 1, string? Cost = null);

/// <summary>
/// One dimension <c>gputel fit</c> searches: a name and its values, tried in every combination
/// with the other dimensions' values. A new dimension (CPU offload, quantized weights) is one more
/// list here; the search, ranking and output take it as they are.
/// </summary>
/// <param name="Name">Column name (e.g. <c>method</c>, <c>batch</c>).</param>
/// <param name="Choices">Its values, in the order they are tried and shown.</param>
/// <param name="SameTraining">
/// Whether the dimension only changes how a step is computed, not what is trained (checkpointing,
/// ZeRO, offload): of configurations that differ only in such dimensions, the fastest that fits is
/// the one worth listing.
/// </param>
public sealed record FitDimension(string Name, IReadOnlyList<FitChoice> Choices, bool SameTraining = false)
{
    /// <summary>Name of the method dimension.</summary>
    public const string MethodName = "method";

    /// <summary>Name of the micro-batch dimension.</summary>
    public const string BatchName = "batch";

    /// <summary>Name of the cutoff dimension.</summary>
    public const string CutoffName = "cutoff";

    /// <summary>Name of the gradient checkpointing dimension.</summary>
    public const string CheckpointingName = "checkpointing";

    /// <summary>Name of the ZeRO stage dimension.</summary>
    public const string ZeroName = "zero";

    /// <summary>Micro-batch sizes tried by default.</summary>
    public static IReadOnlyList<int> StandardBatchSizes { get; } = [1, 2, 4, 8, 16, 32, 64];

    /// <summary>Cutoff lengths tried when none is given (those the model's positions allow).</summary>
    public static IReadOnlyList<int> StandardCutoffs { get; } = [512, 1024, 2048, 4096, 8192, 16_384, 32_768];

    /// <summary>Full, freeze and LoRA, or those given.</summary>
    public static FitDimension Methods(IEnumerable<FineTuneMethod>? methods = null) =>
        new(MethodName, [.. (methods ?? [FineTuneMethod.Full, FineTuneMethod.Freeze, FineTuneMethod.Lora])
            .Select(m => new FitChoice(m.ToString().ToLowerInvariant(), r => r with { Method = m }))]);

    /// <summary>Sequences per micro-batch.</summary>
    public static FitDimension BatchSizes(IEnumerable<int>? sizes = null) =>
        new(BatchName, [.. (sizes ?? StandardBatchSizes).Select(b => new FitChoice(Text(b), r => r with { BatchSize = b }))]);

    /// <summary>
    /// The cutoff: the one given, else <see cref="StandardCutoffs"/> up to the model's
    /// <paramref name="maxPositions"/> (that alone when it is below them all).
    /// </summary>
    public static FitDimension Cutoffs(int? fixedCutoff, long maxPositions)
    {
        IEnumerable<int> cutoffs = fixedCutoff is { } c ? [c] : StandardCutoffs.Where(s => s <= maxPositions).DefaultIfEmpty((int)Math.Min(maxPositions, int.MaxValue));
        return new(CutoffName, [.. cutoffs.Select(v => new FitChoice(Text(v), r => r with { CutoffLength = v }))]);
    }

    /// <summary>Gradient checkpointing off, then on (one more forward pass of every layer in backward).</summary>
    public static FitDimension Checkpointing() => new(CheckpointingName,
    [
        new FitChoice("off", r => r with { GradientCheckpointing = false }),
        // Forward and backward cost about three forward passes; the recomputed forward is a fourth.
        new FitChoice("on", r => r with { GradientCheckpointing = true }, ComputeFactor: 4.0 / 3, Cost: "+33% compute (forward recomputed)"),
    ], SameTraining: true);

    /// <summary>
    /// ZeRO stages 0-3 over more than one GPU; stage 0 alone on one (there is nothing to shard over).
    /// Stages 1 and 2 communicate what plain data parallelism does (a reduce-scatter and an
    /// all-gather make one all-reduce); stage 3 also gathers the weights for backward, 1.5 times as
    /// much (Rajbhandari et al., ZeRO, section 7). Under mixed precision (<paramref name="mixedPrecision"/>)
    /// DeepSpeed's CPU offload is tried too, on one GPU as well: the optimizer (ZeRO-2 and 3) and
    /// the parameters (ZeRO-3), each step moving the gradients to the CPU and the updated weights
    /// back over PCIe, counted here as twice (optimizer) and three times (parameters) the traffic.
    /// </summary>
    public static FitDimension ZeroStages(int gpus, bool mixedPrecision = false)
    {
        var choices = new List<FitChoice> { new("0", r => r with { ZeroStage = 0, Offload = ZeroOffload.None }) };
        if (gpus > 1)
        {
            choices.Add(new FitChoice("1", r => r with { ZeroStage = 1, Offload = ZeroOffload.None }));
            choices.Add(new FitChoice("2", r => r with { ZeroStage = 2, Offload = ZeroOffload.None }));
            choices.Add(new FitChoice("3", r => r with { ZeroStage = 3, Offload = ZeroOffload.None }, CommunicationFactor: 1.5, Cost: "1.5x communication (weights gathered)"));
        }

        if (mixedPrecision)
        {
            choices.Add(new FitChoice("2+offload optimizer", r => r with { ZeroStage = 2, Offload = ZeroOffload.Optimizer }, CommunicationFactor: 2, Cost: "optimizer step on the CPU, gradients and weights over PCIe each step"));
            choices.Add(new FitChoice("3+offload optimizer", r => r with { ZeroStage = 3, Offload = ZeroOffload.Optimizer }, CommunicationFactor: 2.5, Cost: "weights gathered; optimizer step on the CPU, gradients and weights over PCIe"));
            choices.Add(new FitChoice("3+offload params", r => r with { ZeroStage = 3, Offload = ZeroOffload.Params }, CommunicationFactor: 3.5, Cost: "every layer's weights fetched from CPU memory in forward and backward; optimizer step on the CPU"));
        }

        return new(ZeroName, choices, SameTraining: true);
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
