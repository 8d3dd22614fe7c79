using Gputel.Profiler.Model;

namespace Gputel.Profiler.Training;

/// <summary>How the model is fine-tuned.</summary>
public enum FineTuneMethod
{
    /// <summary>Every parameter trains.</summary>
    Full,
    /// <summary>Only the last N decoder layers train.</summary>
    Freeze,
    /// <summary>Low-rank adapters train; the base model is frozen.</summary>
    Lora,
}

/// <summary>The optimizer.</summary>
public enum OptimizerKind
{
    /// <summary>AdamW: two moments per trainable parameter.</summary>
    AdamW,
    /// <summary>SGD with momentum: one buffer per trainable parameter.</summary>
    Sgd,
}

/// <summary>Everything a reference fine-tuning run needs.</summary>
/// <param name="Shape">The model shape (built in, or from a checkpoint's config.json).</param>
/// <param name="OutputDirectory">Where the run record goes.</param>
public sealed record FineTuneOptions(ModelShape Shape, string OutputDirectory)
{
    /// <summary>Name of the shape as the user gave it (recorded in run.json).</summary>
    public string ModelName { get; init; } = "custom";

    /// <summary>A Hugging Face checkpoint directory (config.json + *.safetensors), or null to initialise fresh weights.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Full, freeze or LoRA.</summary>
    public FineTuneMethod Method { get; init; } = FineTuneMethod.Lora;

    /// <summary>For <see cref="FineTuneMethod.Freeze"/>: how many of the last layers train.</summary>
    public int TrainableLayers { get; init; } = 2;

    /// <summary>For <see cref="FineTuneMethod.Lora"/>: rank, alpha, dropout, targets.</summary>
    public LoraSettings Lora { get; init; } = new(rank: 8, alpha: 16);

    /// <summary>AdamW or SGD.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.AdamW;

    /// <summary>Learning rate.</summary>
    public double LearningRate { get; init; } = 1e-4;

    /// <summary><c>Float32</c> or <c>BFloat16</c> parameters.</summary>
    public TorchSharp.torch.ScalarType Dtype { get; init; } = TorchSharp.torch.ScalarType.Float32;

    /// <summary>Sequences per micro-batch.</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>Longest sequence in tokens; synthetic batches have exactly this length.</summary>
    public int CutoffLength { get; init; } = 128;

    /// <summary>Micro-batches per optimizer step.</summary>
    public int GradientAccumulation { get; init; } = 1;

    /// <summary>Recompute each decoder layer in backward instead of keeping its activations.</summary>
    public bool GradientCheckpointing { get; init; }

    /// <summary>
    /// On the CPU, set glibc up for exact phase peaks (a fixed mmap threshold, so the kernel's
    /// resident high-water mark follows the allocator; see
    /// <see cref="Memory.CpuAllocator.ConfigureForAccounting(bool)"/>): every large tensor then
    /// takes fresh pages, which slows CPU training (by 30 % on the benchmark's small model).
    /// Without it, phase peaks are sampled, a lower bound. The first run in a process decides.
    /// </summary>
    public bool ExactCpuPeaks { get; init; }

    /// <summary>Optimizer steps to run.</summary>
    public int Steps { get; init; } = 10;

    /// <summary>Alpaca JSONL dataset, or null for synthetic batches.</summary>
    public string? DataFile { get; init; }

    /// <summary>Seed for initialisation and synthetic data.</summary>
    public long Seed { get; init; } = 42;

    /// <summary>Run id recorded in run.json and on every gauge.</summary>
    public string RunId { get; init; } = DateTimeOffset.UtcNow.ToString("yyyyMMdd-HHmmss", System.Globalization.CultureInfo.InvariantCulture);
}
