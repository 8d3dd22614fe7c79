namespace Gputel.Core.Memory;

/// <summary>
/// What training memory is, one vocabulary everywhere (metric label <c>category</c>, run records,
/// reports, the estimator). Names, labels, colours and stack order: <see cref="MemoryCategories"/>.
/// </summary>
public enum MemoryCategory
{
    /// <summary>Parameters and buffers of the model, LoRA adapters included.</summary>
    Weights,
    /// <summary><c>.grad</c> of trainable parameters.</summary>
    Gradients,
    /// <summary>Optimizer state: Adam moments, momentum buffers, step counters.</summary>
    OptimizerState,
    /// <summary>Tensors saved for backward, alive between forward and backward.</summary>
    Activations,
    /// <summary>Short-lived buffers inside a phase: its peak above its start.</summary>
    Temporary,
    /// <summary>The batch: token ids, masks, labels.</summary>
    Inputs,
    /// <summary>Reserved by a caching allocator but not in use.</summary>
    AllocatorCache,
    /// <summary>CUDA context and library workspaces: device memory no allocator reports.</summary>
    Runtime,
    /// <summary>Whatever is left after the others; shown, never hidden.</summary>
    Unattributed,
    /// <summary>Weights stored quantized (bitsandbytes 4-bit or 8-bit); PyTorch snapshots only.</summary>
    QuantizedWeights,
    /// <summary>LoRA adapters (PEFT) apart from the base weights; PyTorch snapshots only.</summary>
    LoraAdapters,
    /// <summary>Memory allocated before a PyTorch snapshot began recording, that no frame names; PyTorch snapshots only.</summary>
    BeforeRecording,
}
