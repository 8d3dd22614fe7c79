using System.Globalization;
using Gputel.Core.Memory;
using Gputel.Core.Training;

namespace Gputel.Core.Estimation;

/// <summary>
/// Predicts a fine-tuning run's memory by category from its configuration, following the
/// reference model's real structure: which tensors autograd saves in each RMSNorm, projection,
/// rotary embedding, grouped-query attention and SwiGLU block, which of them exist at all given
/// what trains (a frozen prefix saves nothing), and what each phase allocates briefly.
/// The figures are per GPU; ZeRO shards model state across <see cref="EstimateRequest.Gpus"/>.
/// </summary>
public static class MemoryEstimator
{
    private const double MiB = 1024 * 1024;

    /// <summary>
    /// libtorch's own memory on the CPU (autograd engine, math library buffers, kernel caches) where
    /// it was not measured (<see cref="EstimateRequest.MeasuredRuntime"/>): a typical figure, since
    /// the math libraries size their buffers by the matrix shapes (4.7-17 MiB measured in fresh
    /// <c>gputel finetune</c> processes on Linux x64 with libtorch 2.10, on 2 CPUs).
    /// </summary>
    public const long CpuRuntimeBytes = 8L * 1024 * 1024;

    /// <summary>
    /// A CUDA context with cuBLAS and cuDNN loaded, as NVML shows it for a PyTorch process on a
    /// recent data-centre GPU before any tensor is allocated (typically 400-600 MiB).
    /// </summary>
    public const long CudaRuntimeBytes = 500L * 1024 * 1024;

    /// <summary>Estimates <paramref name="request"/>.</summary>
    /// <exception cref="ArgumentException">The request is inconsistent (bad shape, unknown LoRA target, ZeRO stage out of range...).</exception>
    public static MemoryEstimate Estimate(EstimateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Validate(request);
        var m = new Terms(request);

        long weights = m.Weights, gradients = m.Gradients, optimizer = m.OptimizerState, inputs = m.Inputs;
        long runtime = (request.MeasuredRuntime?.Bytes ?? (request.Device.IsCpu ? CpuRuntimeBytes : CudaRuntimeBytes)) + m.Nccl;

        // DPO and reward modelling run each pair's chosen and rejected sequences in one batch.
        int sequences = request.Stage is TrainingStage.Dpo or TrainingStage.Rm ? 2 : 1;
        Activations a = Activations.Of(sequences > 1 ? request with { BatchSize = request.BatchSize * sequences } : request);
        long b = request.BatchSize * sequences, s = request.CutoffLength, v = request.Shape.VocabSize;
        int p = request.DtypeBytes;
        long activations = a.Total, lossGradient = a.LossGradient, forwardTransient = a.ForwardTransient;
        string activationsFormula = (sequences > 1 ? $"chosen and rejected together, {b} sequences: " : string.Empty) + a.Formula;
        string forwardTransientFormula = a.ForwardTransientFormula;
        if (request.Stage == TrainingStage.Rm)
        {
            // The value head reads the last hidden state; the LM logits are still computed (and cast
            // to fp32 by the value-head wrapper) but nothing keeps them for the loss.
            activations -= a.Vocabulary;
            lossGradient = 0;
            long logits = b * s * v * (p + 4);
            activationsFormula += $"; reward modelling: no logits kept (value head on the last hidden state, less {Format(a.Vocabulary)})";
            if (logits > forwardTransient)
            {
                (forwardTransient, forwardTransientFormula) = (logits, $"the LM logits and their fp32 copy, computed and dropped: b x s x V x ({p} + 4) B = {Format(logits)}");
            }
        }

        if (m.AutocastCopies > 0)
        {
            activations += m.AutocastCopies;
            activationsFormula += $"; {m.AutocastFormula}";
        }

        if (request.Stage is TrainingStage.Dpo or TrainingStage.Kto or TrainingStage.Ppo)
        {
            // After the policy's forward, with its activations alive: the reference model's forward
            // without a graph, whose logits and log-softmax exist until its log-probabilities are
            // gathered (KTO runs its KL batch through policy and reference the same way, one after the other).
            long referenceLogits = (b * s * v * p) + (b * (s - 1) * v * 4);
            if (referenceLogits > forwardTransient)
            {
                (forwardTransient, forwardTransientFormula) = (referenceLogits,
                    $"the reference forward without a graph{(request.Stage == TrainingStage.Kto ? " (and KTO's KL batch)" : string.Empty)}: logits b x s x V x {p} B + log-softmax b x (s-1) x V x 4 B = {Format(referenceLogits)}");
            }
        }

        // Short-lived buffers present whatever the phase does: data parallelism's gradient buckets,
        // DeepSpeed ZeRO-3's gathered layer, QLoRA's dequantized projection while it runs.
        long always = m.Communication + m.GatheredLayer;
        string AlwaysFormula(string formula, bool dequantized) =>
            formula
            + (m.Communication > 0 ? $"; + {m.CommunicationFormula}" : string.Empty)
            + (m.GatheredLayer > 0 ? $"; + {m.GatheredLayerFormula}" : string.Empty)
            + (dequantized && m.Dequantized > 0 ? $"; + the largest projection dequantized to 16-bit while it runs: h x i x {p} B = {Format(m.Dequantized)}" : string.Empty);

        // Each phase's larger end (start for backward, which begins with every activation alive)
        // plus what it allocates briefly; the peak phase is the highest of them.
        long optimizerTransient = m.OptimizerTransient(request.Device);
        // With gradient accumulation the gradients stay from the first micro-batch's backward until
        // zero_grad: every later micro-batch's forward runs with all of them alive, and its backward
        // starts with them beside the activations, which makes its start its larger end (each new
        // gradient is added into them, not kept beside).
        int accumulation = request.GradientAccumulation;
        long heldGradients = accumulation > 1 ? gradients : 0;
        bool activationsDominate = activations + heldGradients >= gradients + a.Outputs;
        var phases = new List<(Phase Phase, long Activations, long Gradients, long Temporary, string TemporaryFormula)>
        {
            (Phase.Forward, activations, heldGradients, forwardTransient + always + m.Dequantized, AlwaysFormula(forwardTransientFormula, true)),
            activationsDominate
                ? (Phase.Backward, activations, heldGradients, Math.Max(2 * lossGradient, a.RecomputeBackward) + always + m.Dequantized, AlwaysFormula(a.RecomputeBackward > 2 * lossGradient
                    ? $"the last layer recomputed, with the gradients of its output and of its SwiGLU factors, less the log-softmax the loss's backward released ({Format(a.RecomputeBackward)})"
                    : lossGradient == 0 ? "little: the value head's gradient is one number per sequence"
                    : $"the loss gradients over the vocabulary at the start of backward (NLL and log-softmax: 2 x b x (s-1) x V x 4 B = {Format(2 * lossGradient)})", true))
                : (Phase.Backward, a.Outputs, gradients, a.Recompute + always + m.Dequantized, AlwaysFormula(a.Recompute > 0 ? $"the first trainable layer recomputed while the other gradients are in place ({Format(a.Recompute)})" : "little: gradients replace the activations they consume", true)),
            (Phase.OptimizerStep, a.Outputs, gradients, optimizerTransient + always, AlwaysFormula(m.OptimizerTransientFormula(request.Device), false)),
        };
        if (request.Stage == TrainingStage.Ppo)
        {
            // The rollout: the policy generates each response with a KV cache (keys and values of
            // every layer for every position) and one position's logits at a time.
            long kv = 2L * request.Shape.Layers * request.BatchSize * s * request.Shape.KeyValueHeads * request.Shape.HeadDim * p;
            long stepLogits = request.BatchSize * v * 4;
            phases.Add((Phase.Forward, 0, 0, kv + stepLogits + always + m.Dequantized, AlwaysFormula(
                $"PPO rollout (generation): KV cache 2 x layers x b x s x kv_heads x head_dim x {p} B = {Format(kv)} + one position's fp32 logits {Format(stepLogits)}", true)));
        }

        var peak = phases.MaxBy(ph => ph.Activations + ph.Gradients + ph.Temporary);

        var cache = request.Device.IsCpu ? 0 : (long)(0.05 * (weights + gradients + optimizer + peak.Activations + peak.Temporary));
        var lines = new EstimateLine[MemoryCategories.All.Count];
        lines[(int)MemoryCategory.Weights] = new(MemoryCategory.Weights, weights, m.WeightsFormula);
        lines[(int)MemoryCategory.Gradients] = new(MemoryCategory.Gradients, peak.Gradients,
            peak.Gradients == 0 ? $"none yet at the peak ({peak.Phase}): zero_grad sets them to None; {m.GradientsFormula} after backward"
            : accumulation > 1 ? $"{m.GradientsFormula}, held from the first micro-batch's backward through the next micro-batches' forward and backward passes (gradient accumulation {accumulation})"
            : m.GradientsFormula);
        lines[(int)MemoryCategory.OptimizerState] = new(MemoryCategory.OptimizerState, optimizer, m.OptimizerFormula);
        lines[(int)MemoryCategory.Activations] = new(MemoryCategory.Activations, peak.Activations,
            peak.Activations == activations && activations > 0 ? activationsFormula
            : request.Stage == TrainingStage.Ppo && peak.Activations == 0 && peak.Phase == Phase.Forward ? "none during generation: it runs without a graph"
            : $"none after backward: the graph and the logits are released, only the loss's value is kept");
        lines[(int)MemoryCategory.Temporary] = new(MemoryCategory.Temporary, peak.Temporary, peak.TemporaryFormula);
        lines[(int)MemoryCategory.Inputs] = new(MemoryCategory.Inputs, inputs, $"token ids + labels: 2 x b{b} x s{request.CutoffLength} x 8 B (int64)"
            + (request.Shape.Vision is not null ? "; image tokens count in the cutoff, the frozen vision tower's own activations are not counted" : string.Empty));
        lines[(int)MemoryCategory.AllocatorCache] = new(MemoryCategory.AllocatorCache, cache,
            request.Device.IsCpu ? "none: glibc keeps no cache the categories count" : "~5% of the allocator's in-use memory (fragmentation of the caching allocator)");
        lines[(int)MemoryCategory.Runtime] = new(MemoryCategory.Runtime, runtime,
            request.MeasuredRuntime?.How
            ?? (request.Device.IsCpu
                ? "libtorch's own buffers on the CPU (typical: the math libraries size theirs by the matrix shapes; gputel estimate --device cpu measures them)"
                : "CUDA context with cuBLAS/cuDNN (typical, NVML per process minus the pool)")
            + (m.Nccl > 0 ? $" + NCCL's buffers on each of the {request.Gpus} ranks (typical: 4 MiB NCCL_BUFFSIZE x 2 neighbours x 2 directions x 16 channels = {Format(m.Nccl)})" : string.Empty));
        lines[(int)MemoryCategory.Unattributed] = new(MemoryCategory.Unattributed, 0, "by definition: what a measurement cannot name");

        long stateOnly = m.ModelStateOnly;
        return new MemoryEstimate(request, lines, peak.Phase, stateOnly, m.ModelStateOnlyFormula)
        {
            ForwardActivations = activations,
            BackwardGradients = gradients,
        };
    }

    private static void Validate(EstimateRequest r)
    {
        r.Shape.Validate();
        if (!TrainingVariantNames.Dtypes.Contains(r.Dtype))
        {
            throw new ArgumentException($"invalid dtype '{r.Dtype}': expected {string.Join(", ", TrainingVariantNames.Dtypes)}");
        }

        if (r.Quantization != WeightQuantization.None && r.Method != FineTuneMethod.Lora)
        {
            throw new ArgumentException($"quantization {r.Quantization.Name()} needs --method lora (QLoRA): bitsandbytes' quantized weights cannot be trained by {r.Method.ToString().ToLowerInvariant()} fine-tuning");
        }

        if (r.Offload != ZeroOffload.None)
        {
            if (r.ZeroStage == 0 || (r.Offload == ZeroOffload.Params && r.ZeroStage != 3))
            {
                throw new ArgumentException($"offload {r.Offload.Name()} needs DeepSpeed ZeRO-{(r.Offload == ZeroOffload.Params ? "3" : "1, 2 or 3")} (--zero-stage), not stage {r.ZeroStage}");
            }

            if (!r.MixedPrecision)
            {
                throw new ArgumentException($"offload is modelled for DeepSpeed's mixed precision: use --dtype bf16-mixed or fp16-mixed, not {r.Dtype}");
            }
        }

        // Worded as gputel finetune words them, naming the option and its value.
        if (r.BatchSize < 1)
        {
            throw new ArgumentException($"invalid batch-size '{r.BatchSize}': must be a positive number");
        }

        if (r.CutoffLength < TrainingSettings.MinimumCutoffLength)
        {
            throw new ArgumentException($"invalid cutoff-len '{r.CutoffLength}': must be at least {TrainingSettings.MinimumCutoffLength} (the loss predicts each token from the ones before it)");
        }

        if (r.GradientAccumulation < 1)
        {
            throw new ArgumentException($"gradient accumulation must be at least 1 micro-batch per step, not {r.GradientAccumulation}");
        }

        if (r.Gpus < 1 || r.ZeroStage is < 0 or > 3)
        {
            throw new ArgumentException($"GPUs must be at least 1 and the ZeRO stage 0-3 (got {r.Gpus} GPUs, stage {r.ZeroStage})");
        }

        if (r.ZeroStage > 0 && r.Gpus == 1 && r.Offload == ZeroOffload.None)
        {
            throw new ArgumentException($"ZeRO-{r.ZeroStage} on one GPU shards nothing: give --gpus N for the data-parallel GPUs, or --offload optimizer|params to move model state to CPU memory");
        }

        if (r.Method == FineTuneMethod.Freeze && (r.TrainableLayers < 1 || r.TrainableLayers > r.Shape.Layers))
        {
            // As gputel finetune words it: a freeze run trains at least its last layer.
            throw new ArgumentException($"invalid trainable-layers '{r.TrainableLayers}': {(r.TrainableLayers < 1 ? "must be a positive number" : $"the model has {r.Shape.Layers} layers")}");
        }

        if (r.Method == FineTuneMethod.Lora)
        {
            if (r.Lora.Rank < 1)
            {
                throw new ArgumentException($"LoRA rank must be at least 1, not {r.Lora.Rank}");
            }

            r.Shape.LoraParameterCount(r.Lora);
        }

        if (r.Attention is not ("sdpa" or "eager"))
        {
            throw new ArgumentException($"attention must be sdpa or eager, not '{r.Attention}'");
        }
    }

    internal static string Format(long bytes) => (bytes / MiB).ToString("#,0.0", CultureInfo.InvariantCulture) + " MiB";
}
