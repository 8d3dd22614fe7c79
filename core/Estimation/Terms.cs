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
        int p = r.DtypeBytes, st = r.StateBytes;
        // Frozen weights stay in the compute dtype: 16-bit under mixed precision (LLaMA-Factory loads
        // the model in bf16 and upcasts only what trains), else the run's dtype.
        int frozenBytes = r.MixedPrecision ? 2 : p;
        bool lora = r.Method == FineTuneMethod.Lora;
        long adapters = lora ? r.Shape.LoraParameterCount(r.Lora) : 0;
        // Reward modelling and PPO put a value head (hidden -> 1, with bias) on the model, trained.
        long valueHead = r.Stage is TrainingStage.Rm or TrainingStage.Ppo ? r.Shape.HiddenSize + 1 : 0;
        long vision = counts.Vision;
        Parameters = counts.Total + vision + adapters + valueHead;
        Trainable = valueHead + r.Method switch
        {
            FineTuneMethod.Full => counts.Total,
            FineTuneMethod.Freeze => counts.PerLayer * r.TrainableLayers,
            _ => adapters,
        };
        long frozen = Parameters - Trainable;
        int gpus = r.Gpus;
        long Shard(long bytes, int fromStage) => r.ZeroStage >= fromStage ? (bytes + gpus - 1) / gpus : bytes;
        string ShardNote(int fromStage) => r.ZeroStage >= fromStage && gpus > 1 ? $" / {gpus} GPUs (ZeRO-{r.ZeroStage})" : string.Empty;

        // QLoRA: bitsandbytes quantizes the seven projections of every layer; embeddings, the LM
        // head, norms and biases stay in the compute dtype.
        long quantized = r.Quantization == WeightQuantization.None ? 0 : r.Shape.Layers * r.Shape.ProjectionWeightsPerLayer;
        long quantizedBytes = 0;
        string quantizedFormula = string.Empty;
        if (r.Quantization == WeightQuantization.FourBit)
        {
            // Half a byte per weight; one absmax per block of 64 weights, itself 8-bit with one fp32
            // constant per 256 blocks under double quantization, else fp32.
            long blocks = (quantized + 63) / 64;
            long absmax = r.DoubleQuantization ? blocks + (4 * ((blocks + 255) / 256)) : 4 * blocks;
            quantizedBytes = ((quantized + 1) / 2) + absmax;
            quantizedFormula = $"{N(quantized)} projection weights in NF4 x 0.5 B + {(r.DoubleQuantization ? "absmax 8-bit per 64 (double quantization, fp32 per 256 blocks)" : "absmax fp32 per 64")} = {MemoryEstimator.Format(quantizedBytes)}";
        }
        else if (r.Quantization == WeightQuantization.EightBit)
        {
            long rows = r.Shape.Layers * r.Shape.ProjectionRowsPerLayer;
            quantizedBytes = quantized + (4 * rows);
            quantizedFormula = $"{N(quantized)} projection weights in int8 x 1 B + {N(rows)} fp32 row scales = {MemoryEstimator.Format(quantizedBytes)}";
        }

        // DPO, KTO and PPO compare with a frozen reference model: for LoRA it is the base with the
        // adapters disabled (no copy); otherwise a second model in the compute dtype. PPO's reward
        // model is a LoRA adapter on the same base for LoRA runs (reward_model_type lora), else a
        // full copy with its value head.
        bool reference = r.Stage is TrainingStage.Dpo or TrainingStage.Kto or TrainingStage.Ppo && !lora;
        long referenceBytes = reference ? (counts.Total + vision) * frozenBytes : 0;
        long rewardBytes = r.Stage == TrainingStage.Ppo && !lora ? (counts.Total + r.Shape.HiddenSize + 1) * frozenBytes : 0;
        string extraModels = (referenceBytes > 0 ? $" + reference model {N(counts.Total + vision)} x {frozenBytes} B" : string.Empty)
            + (rewardBytes > 0 ? $" + reward model {N(counts.Total + r.Shape.HiddenSize + 1)} x {frozenBytes} B" : string.Empty)
            + (reference || r.Stage is not (TrainingStage.Dpo or TrainingStage.Kto or TrainingStage.Ppo) ? string.Empty : " (reference: the base with adapters disabled, no copy)");
        string Parts() =>
            (vision > 0 ? $", vision tower {N(vision)} frozen" : string.Empty)
            + (adapters > 0 ? $", {N(adapters)} LoRA" : string.Empty)
            + (valueHead > 0 ? $", value head {N(valueHead)}" : string.Empty);

        long frozenPlain = frozen - quantized;
        _p = st;
        _adamW = r.Optimizer == OptimizerKind.AdamW;
        _stepRanks = r.ZeroStage >= 1 ? gpus : 1;
        _stepNote = ShardNote(1);
        int moments = r.Optimizer == OptimizerKind.AdamW ? 2 : 1;
        if (r.DeepSpeedMixed)
        {
            // DeepSpeed's own accounting (deepspeed/runtime/zero: estimate_zero2_model_states_mem_needs
            // and estimate_zero3_model_states_mem_needs): 16-bit parameters and gradients, and per
            // trainable parameter 16 B of fp32 optimizer state (master copy 4, moments 8, fp32
            // gradient partition 4). ZeRO-1/2: 4P + 16P/N on each GPU, 2P with the optimizer
            // offloaded; ZeRO-3: 18P/N + 4 x the largest layer, 2P/N + that with the optimizer
            // offloaded, the largest layer alone with the parameters offloaded too.
            _deepSpeed = true;
            bool stage3 = r.ZeroStage == 3;
            long model16 = (frozenPlain * 2) + quantizedBytes + (Trainable * 2) + referenceBytes + rewardBytes;
            string dsNote = $"DeepSpeed ZeRO-{r.ZeroStage}{(r.Offload == ZeroOffload.None ? string.Empty : $", {r.Offload.Name()} offloaded to CPU")}";
            Weights = r.Offload == ZeroOffload.Params ? 0 : stage3 ? (model16 + gpus - 1) / gpus : model16;
            WeightsFormula = r.Offload == ZeroOffload.Params
                ? $"none kept: the 16-bit parameters live in CPU memory ({dsNote}); the gathered layer is counted as temporary"
                : $"({N(counts.Total)} base{Parts()}) x 2 B (16-bit){(quantized > 0 ? $", {quantizedFormula}" : string.Empty)}{extraModels}{(stage3 ? $" / {gpus} GPUs" : string.Empty)} ({dsNote})";
            Gradients = r.Offload != ZeroOffload.None ? 0 : stage3 ? ((4 * Trainable) + gpus - 1) / gpus : 2 * Trainable;
            GradientsFormula = r.Offload != ZeroOffload.None
                ? $"none kept on the GPU: reduced through the buckets into the CPU's partition ({dsNote})"
                : stage3 ? $"fp32 gradient partition: {N(Trainable)} trainable x 4 B / {gpus} GPUs ({dsNote})"
                : $"{N(Trainable)} trainable x 2 B (16-bit, before reduction; {Describe(r)}; {dsNote})";
            OptimizerState = r.Offload != ZeroOffload.None ? 0 : (((stage3 ? 12 : 16) * Trainable) + gpus - 1) / gpus;
            OptimizerFormula = r.Offload != ZeroOffload.None
                ? $"none on the GPU: fp32 master weights, moments and gradients in CPU memory ({dsNote})"
                : stage3 ? $"fp32 master copy and AdamW moments: 12 B x {N(Trainable)} trainable / {gpus} GPUs ({dsNote})"
                : $"fp32 master copy, AdamW moments and gradient partition: 16 B x {N(Trainable)} trainable / {gpus} GPUs ({dsNote})";
            GatheredLayer = stage3 ? 4 * r.Shape.LargestLayerParameters : 0;
            GatheredLayerFormula = $"the largest layer gathered, parameters and gradients in 16-bit: 4 B x {N(r.Shape.LargestLayerParameters)} (DeepSpeed's largest_layer_memory)";
        }
        else
        {
            long weights = (frozenPlain * frozenBytes) + quantizedBytes + (Trainable * st) + referenceBytes + rewardBytes;
            Weights = Shard(weights, 3);
            string dtypes = r.MixedPrecision
                ? $"{N(frozen - quantized)} frozen x 2 B (16-bit){(quantized > 0 ? $" + {quantizedFormula}" : string.Empty)} + {N(Trainable)} trainable x 4 B (fp32, mixed precision)"
                : quantized > 0 ? $"{N(frozen - quantized)} x {p} B + {quantizedFormula} + {N(Trainable)} trainable x {p} B"
                : string.Empty;
            WeightsFormula = (dtypes.Length > 0
                ? $"{dtypes} ({N(counts.Total)} base{Parts()})"
                : adapters > 0 || vision > 0 || valueHead > 0
                    ? $"({N(counts.Total)} base{Parts()} parameters) x {p} B"
                    : $"{N(counts.Total)} parameters x {p} B") + extraModels + ShardNote(3);
            Gradients = Shard(Trainable * st, 2);
            GradientsFormula = $"{N(Trainable)} trainable parameters x {st} B{(r.MixedPrecision ? " (fp32)" : string.Empty)} ({Describe(r)})" + ShardNote(2);
            OptimizerState = Shard(Trainable * moments * st, 1);
            OptimizerFormula = (r.Optimizer == OptimizerKind.AdamW
                ? $"AdamW: 2 moments x {N(Trainable)} trainable x {st} B ({(r.MixedPrecision ? "fp32, mixed precision" : "state in the parameters' dtype")})"
                : $"SGD momentum: 1 buffer x {N(Trainable)} trainable x {st} B") + ShardNote(1);
            GatheredLayerFormula = string.Empty;
        }

        // Automatic mixed precision casts each fp32 weight a matmul uses to 16-bit and autograd
        // saves the copy for backward: the trained projections (and the LM head when it trains).
        if (r.MixedPrecision && !r.DeepSpeedMixed)
        {
            long cast = r.Method switch
            {
                FineTuneMethod.Full => (r.Shape.Layers * r.Shape.ProjectionWeightsPerLayer) + (counts.LmHead > 0 ? counts.LmHead : counts.Embedding),
                FineTuneMethod.Freeze => r.TrainableLayers * r.Shape.ProjectionWeightsPerLayer,
                _ => adapters,
            };
            AutocastCopies = 2 * cast;
            AutocastFormula = $"autocast's 16-bit copies of {N(cast)} fp32 weights, saved for backward: {MemoryEstimator.Format(AutocastCopies)}";
        }

        // The dequantized 16-bit weight of the largest projection while its matmul runs.
        Dequantized = quantized > 0 ? r.Shape.HiddenSize * r.Shape.IntermediateSize * p : 0;

        // Per rank beside another: the NCCL communicator's buffers (runtime), and the gradient
        // buffers data parallelism reduces through (temporary): DDP's buckets are a flat copy of
        // every gradient (Hugging Face Trainer leaves gradient_as_bucket_view off); DeepSpeed ZeRO-1/2
        // reduces through a bucket of reduce_bucket_size (5e8 elements in LLaMA-Factory's
        // ds_z2_config), ZeRO-3 through Hugging Face's "auto" buckets (reduce hidden^2 and
        // prefetch 0.9 x hidden^2 elements).
        if (gpus > 1)
        {
            Nccl = NcclBytes;
            long h2 = r.Shape.HiddenSize * r.Shape.HiddenSize;
            (Communication, CommunicationFormula) = r.ZeroStage switch
            {
                0 => (Trainable * st, $"DDP's gradient buckets, a flat copy of the gradients: {N(Trainable)} x {st} B"),
                3 => ((h2 + (9 * h2 / 10)) * 2, $"ZeRO-3 reduce and prefetch buckets: (h^2 + 0.9 h^2) x 2 B = {MemoryEstimator.Format((h2 + (9 * h2 / 10)) * 2)}"),
                _ => (Math.Min(500_000_000L, Trainable) * 2, $"ZeRO-{r.ZeroStage} reduce bucket: min(5e8, trainable) elements x 2 B = {MemoryEstimator.Format(Math.Min(500_000_000L, Trainable) * 2)}"),
            };
        }

        Inputs = 2L * r.BatchSize * r.CutoffLength * sizeof(long) * (r.Stage is TrainingStage.Dpo or TrainingStage.Rm ? 2 : 1);

        // The tables people trust: LLaMA-Factory's README counts 18 B per parameter for full
        // (mixed precision) fine-tuning, 2 B per parameter (the 16-bit weights) for freeze and LoRA,
        // 1 B for 8-bit and 0.5 B for 4-bit QLoRA.
        // They are for one GPU; across several, the figure is made per GPU by sharding it as this
        // configuration's ZeRO stage shards model state, so that it compares with the per-GPU peak.
        // The 18 B split as ZeRO splits them: 2 B 16-bit weights (stage 3), 4 B gradients (stage 2),
        // 12 B fp32 master copy and AdamW moments (stage 1).
        long all = counts.WithVision;
        ModelStateOnly = r.Method == FineTuneMethod.Full
            ? Shard(2 * all, 3) + Shard(4 * all, 2) + Shard(12 * all, 1)
            : r.Quantization == WeightQuantization.FourBit ? Shard(all / 2, 3)
            : r.Quantization == WeightQuantization.EightBit ? Shard(all, 3)
            : Shard(2 * all, 3);
        string perGpu = gpus > 1 && r.ZeroStage >= 1 ? $"; per GPU, sharded as ZeRO-{r.ZeroStage} shards model state" : string.Empty;
        ModelStateOnlyFormula = r.Method == FineTuneMethod.Full
            ? (perGpu.Length == 0 || r.ZeroStage == 3
                ? $"18 B x {N(all)} parameters{ShardNote(3)} (the usual table for full fine-tuning, mixed precision{perGpu})"
                : $"(2 B weights + 4 B gradients{ShardNote(2)} + 12 B fp32 master and moments{ShardNote(1)}) x {N(all)} parameters (the usual table's 18 B for full fine-tuning, mixed precision{perGpu})")
            : r.Quantization != WeightQuantization.None
                ? $"{(r.Quantization == WeightQuantization.FourBit ? "0.5" : "1")} B x {N(all)} parameters{ShardNote(3)} (the usual table for {r.Quantization.Name()} QLoRA: quantized weights only{perGpu})"
                : $"2 B x {N(all)} parameters{ShardNote(3)} (the usual table for {Describe(r)}: 16-bit weights only{perGpu})";
    }

    /// <summary>
    /// NCCL's buffers on each rank of a multi-GPU run: NCCL_BUFFSIZE (4 MiB) for each of the two
    /// ring neighbours in both directions over 16 channels, a typical figure (the channel count
    /// depends on the topology: fewer over PCIe, up to 32 over NVLink).
    /// </summary>
    public const long NcclBytes = 4L * 1024 * 1024 * 2 * 2 * 16;

    /// <summary>NCCL's buffers (runtime), when several GPUs take part; else 0.</summary>
    public long Nccl { get; }

    /// <summary>Gradient buffers of data parallelism (DDP buckets or DeepSpeed's), in every phase after the first backward.</summary>
    public long Communication { get; }

    /// <summary>The formula behind <see cref="Communication"/>.</summary>
    public string CommunicationFormula { get; } = string.Empty;

    /// <summary>Under ZeRO-3 with mixed precision: DeepSpeed's largest layer, gathered; else 0.</summary>
    public long GatheredLayer { get; }

    /// <summary>The formula behind <see cref="GatheredLayer"/>.</summary>
    public string GatheredLayerFormula { get; }

    /// <summary>Mixed precision (without DeepSpeed): the 16-bit copies of the trained weights autograd saves.</summary>
    public long AutocastCopies { get; }

    /// <summary>The formula behind <see cref="AutocastCopies"/>.</summary>
    public string AutocastFormula { get; } = string.Empty;

    /// <summary>QLoRA: the largest projection dequantized to 16-bit while it runs; else 0.</summary>
    public long Dequantized { get; }

    private readonly bool _deepSpeed;

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
    public long OptimizerTransient(ComputeDevice device) => !_adamW || _deepSpeed ? 0 : (((device.IsCpu ? 2 : 1) * Trainable * _p) + _stepRanks - 1) / _stepRanks;

    /// <summary>The formula behind <see cref="OptimizerTransient"/>.</summary>
    public string OptimizerTransientFormula(ComputeDevice device) => !_adamW
        ? "none: SGD updates its momentum and the parameters in place"
        : _deepSpeed ? "none: DeepSpeed's fused Adam updates its partition in place"
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
