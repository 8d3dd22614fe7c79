using System.Globalization;
using Gputel.Core.Model;
using Gputel.Core.Training;

namespace Gputel.Core.Estimation;

/// <summary>Model state of a configuration: parameters, what trains, and the optimizer's share, per GPU.</summary>
internal sealed class Terms
{
    public Terms(EstimateRequest r)
    {
        ParameterCounts counts = r.Shape.ParameterCount();
        int p = r.DtypeBytes;
        long adapters = r.Method == FineTuneMethod.Lora ? r.Shape.LoraParameterCount(r.Lora) : 0;
        Parameters = counts.Total + adapters;
        Trainable = r.Method switch
        {
            FineTuneMethod.Full => counts.Total,
            FineTuneMethod.Freeze => counts.PerLayer * r.TrainableLayers,
            _ => adapters,
        };
        int gpus = r.Gpus;
        long Shard(long bytes, int fromStage) => r.ZeroStage >= fromStage ? (bytes + gpus - 1) / gpus : bytes;
        string ShardNote(int fromStage) => r.ZeroStage >= fromStage && gpus > 1 ? $" / {gpus} GPUs (ZeRO-{r.ZeroStage})" : string.Empty;

        Weights = Shard(Parameters * p, 3);
        WeightsFormula = (adapters > 0
            ? $"({N(counts.Total)} base + {N(adapters)} LoRA parameters) x {p} B"
            : $"{N(counts.Total)} parameters x {p} B") + ShardNote(3);
        Gradients = Shard(Trainable * p, 2);
        GradientsFormula = $"{N(Trainable)} trainable parameters x {p} B ({Describe(r)})" + ShardNote(2);
        int perParameter = r.Optimizer == OptimizerKind.AdamW ? 2 : 1;
        OptimizerState = Shard(Trainable * perParameter * p, 1);
        OptimizerFormula = (r.Optimizer == OptimizerKind.AdamW
            ? $"AdamW: 2 moments x {N(Trainable)} trainable x {p} B (state in the parameters' dtype)"
            : $"SGD momentum: 1 buffer x {N(Trainable)} trainable x {p} B") + ShardNote(1);

        _p = p;
        _adamW = r.Optimizer == OptimizerKind.AdamW;
        // Under ZeRO each rank steps only its own partition of the optimizer state, so the step's
        // buffers shrink with the state.
        _stepRanks = r.ZeroStage >= 1 ? gpus : 1;
        _stepNote = ShardNote(1);

        Inputs = 2L * r.BatchSize * r.CutoffLength * sizeof(long);

        // The tables people trust: LLaMA-Factory's README counts 18 B per parameter for full
        // (mixed precision) fine-tuning and 2 B per parameter (the 16-bit weights) for freeze and LoRA.
        // They are for one GPU; across several, the figure is made per GPU by sharding it as this
        // configuration's ZeRO stage shards model state, so that it compares with the per-GPU peak.
        // The 18 B split as ZeRO splits them: 2 B 16-bit weights (stage 3), 4 B gradients (stage 2),
        // 12 B fp32 master copy and AdamW moments (stage 1).
        ModelStateOnly = r.Method == FineTuneMethod.Full
            ? Shard(2 * counts.Total, 3) + Shard(4 * counts.Total, 2) + Shard(12 * counts.Total, 1)
            : Shard(2 * counts.Total, 3);
        string perGpu = gpus > 1 && r.ZeroStage >= 1 ? $"; per GPU, sharded as ZeRO-{r.ZeroStage} shards model state" : string.Empty;
        ModelStateOnlyFormula = r.Method == FineTuneMethod.Full
            ? (perGpu.Length == 0 || r.ZeroStage == 3
                ? $"18 B x {N(counts.Total)} parameters{ShardNote(3)} (the usual table for full fine-tuning, mixed precision{perGpu})"
                : $"(2 B weights + 4 B gradients{ShardNote(2)} + 12 B fp32 master and moments{ShardNote(1)}) x {N(counts.Total)} parameters (the usual table's 18 B for full fine-tuning, mixed precision{perGpu})")
            : $"2 B x {N(counts.Total)} parameters{ShardNote(3)} (the usual table for {Describe(r)}: 16-bit weights only{perGpu})";
    }

    public long Parameters { get; }

    public long Trainable { get; }

    public long Weights { get; }

    public string WeightsFormula { get; }

    public long Gradients { get; }

    public string GradientsFormula { get; }

    public long OptimizerState { get; }

    public string OptimizerFormula { get; }

    private readonly int _p;
    private readonly bool _adamW;
    private readonly int _stepRanks;
    private readonly string _stepNote;

    /// <summary>
    /// What the optimizer step allocates beyond its state. On the CPU (TorchSharp's AdamW) sqrt(v)
    /// and sqrt(v)/sqrt(1-beta2^t) are made for every parameter and all freed only when the step
    /// ends: 2 x trainable bytes. PyTorch's foreach AdamW on CUDA keeps one such list: 1 x.
    /// SGD with momentum updates in place. Under ZeRO (stage 1 and up) a rank steps only its share
    /// of the parameters, so this divides across the GPUs as the optimizer state does.
    /// </summary>
    public long OptimizerTransient(ComputeDevice device) => !_adamW ? 0 : (((device.IsCpu ? 2 : 1) * Trainable * _p) + _stepRanks - 1) / _stepRanks;

    /// <summary>The formula behind <see cref="OptimizerTransient"/>.</summary>
    public string OptimizerTransientFormula(ComputeDevice device) => !_adamW
        ? "none: SGD updates its momentum and the parameters in place"
        : device.IsCpu
            ? $"AdamW keeps sqrt(v) and its bias-corrected quotient for every parameter until the step ends: 2 x {N(Trainable)} x {_p} B{_stepNote}"
            : $"foreach AdamW's list of sqrt(v) over every parameter: {N(Trainable)} x {_p} B{_stepNote}";

    public long Inputs { get; }

    public long ModelStateOnly { get; }

    public string ModelStateOnlyFormula { get; }

    internal static string Describe(EstimateRequest r) => r.Method switch
    {
        FineTuneMethod.Full => "full",
        FineTuneMethod.Freeze => $"freeze, last {r.TrainableLayers} layers train",
        _ => $"LoRA r={r.Lora.Rank} on {string.Join(",", r.Lora.TargetModules.Distinct(StringComparer.Ordinal))}",
    };

    internal static string N(long count) => count.ToString("#,0", CultureInfo.InvariantCulture);
}
