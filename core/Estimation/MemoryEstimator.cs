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
        long runtime = request.MeasuredRuntime?.Bytes ?? (request.Device.IsCpu ? CpuRuntimeBytes : CudaRuntimeBytes);
        Activations a = Activations.Of(request);

        // Each phase's larger end (start for backward, which begins with every activation alive)
        // plus what it allocates briefly; the peak phase is the highest of them.
        long optimizerTransient = m.OptimizerTransient(request.Device);
        // With gradient accumulation the gradients stay from the first micro-batch's backward until
        // zero_grad: every later micro-batch's forward runs with all of them alive, and its backward
        // starts with them beside the activations, which makes its start its larger end (each new
        // gradient is added into them, not kept beside).
        int accumulation = request.GradientAccumulation;
        long heldGradients = accumulation > 1 ? gradients : 0;
        bool activationsDominate = a.Total + heldGradients >= gradients + a.Outputs;
        var phases = new (Phase Phase, long Activations, long Gradients, long Temporary, string TemporaryFormula)[]
        {
            (Phase.Forward, a.Total, heldGradients, a.ForwardTransient, a.ForwardTransientFormula),
            activationsDominate
                ? (Phase.Backward, a.Total, heldGradients, Math.Max(2 * a.LossGradient, a.RecomputeBackward), a.RecomputeBackward > 2 * a.LossGradient
                    ? $"the last layer recomputed, with the gradients of its output and of its SwiGLU factors, less the log-softmax the loss's backward released ({Format(a.RecomputeBackward)})"
                    : $"the loss gradients over the vocabulary at the start of backward (NLL and log-softmax: 2 x b x (s-1) x V x 4 B = {Format(2 * a.LossGradient)})")
                : (Phase.Backward, a.Outputs, gradients, a.Recompute, a.Recompute > 0 ? $"the first trainable layer recomputed while the other gradients are in place ({Format(a.Recompute)})" : "little: gradients replace the activations they consume"),
            (Phase.OptimizerStep, a.Outputs, gradients, optimizerTransient, m.OptimizerTransientFormula(request.Device)),
        };
        var peak = phases.MaxBy(p => p.Activations + p.Gradients + p.Temporary);

        var cache = request.Device.IsCpu ? 0 : (long)(0.05 * (weights + gradients + optimizer + peak.Activations + peak.Temporary));
        var lines = new EstimateLine[MemoryCategories.All.Count];
        lines[(int)MemoryCategory.Weights] = new(MemoryCategory.Weights, weights, m.WeightsFormula);
        lines[(int)MemoryCategory.Gradients] = new(MemoryCategory.Gradients, peak.Gradients,
            peak.Gradients == 0 ? $"none yet at the peak ({peak.Phase}): zero_grad sets them to None; {m.GradientsFormula} after backward"
            : accumulation > 1 ? $"{m.GradientsFormula}, held from the first micro-batch's backward through the next micro-batches' forward and backward passes (gradient accumulation {accumulation})"
            : m.GradientsFormula);
        lines[(int)MemoryCategory.OptimizerState] = new(MemoryCategory.OptimizerState, optimizer, m.OptimizerFormula);
        lines[(int)MemoryCategory.Activations] = new(MemoryCategory.Activations, peak.Activations,
            peak.Activations == a.Total ? a.Formula : $"none after backward: the graph and the logits are released, only the loss's value is kept");
        lines[(int)MemoryCategory.Temporary] = new(MemoryCategory.Temporary, peak.Temporary, peak.TemporaryFormula);
        lines[(int)MemoryCategory.Inputs] = new(MemoryCategory.Inputs, inputs, $"token ids + labels: 2 x b{request.BatchSize} x s{request.CutoffLength} x 8 B (int64)");
        lines[(int)MemoryCategory.AllocatorCache] = new(MemoryCategory.AllocatorCache, cache,
            request.Device.IsCpu ? "none: glibc keeps no cache the categories count" : "~5% of the allocator's in-use memory (fragmentation of the caching allocator)");
        lines[(int)MemoryCategory.Runtime] = new(MemoryCategory.Runtime, runtime,
            request.MeasuredRuntime?.How
            ?? (request.Device.IsCpu
                ? "libtorch's own buffers on the CPU (typical: the math libraries size theirs by the matrix shapes; gputel estimate --device cpu measures them)"
                : "CUDA context with cuBLAS/cuDNN (typical, NVML per process minus the pool)"));
        lines[(int)MemoryCategory.Unattributed] = new(MemoryCategory.Unattributed, 0, "by definition: what a measurement cannot name");

        long stateOnly = m.ModelStateOnly;
        return new MemoryEstimate(request, lines, peak.Phase, stateOnly, m.ModelStateOnlyFormula)
        {
            ForwardActivations = a.Total,
            BackwardGradients = gradients,
        };
    }

    private static void Validate(EstimateRequest r)
    {
        r.Shape.Validate();
        if (r.Dtype is not ("fp32" or "bf16"))
        {
            throw new ArgumentException($"dtype must be fp32 or bf16, not '{r.Dtype}'");
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
