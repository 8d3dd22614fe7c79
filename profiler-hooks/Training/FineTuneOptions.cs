using Gputel.Core.Model;
using Gputel.Core.Training;

namespace Gputel.Profiler.Training;

/// <summary>Everything a reference fine-tuning run needs.</summary>
/// <param name="Shape">The model shape (built in, or from a checkpoint's config.json).</param>
/// <param name="OutputDirectory">Where the run record goes.</param>
public sealed record FineTuneOptions(ModelShape Shape, string OutputDirectory)
{
    /// <summary>Name of the shape as the user gave it (recorded in run.json).</summary>
    public string ModelName { get; init; } = "custom";

    /// <summary>A Hugging Face checkpoint directory (config.json + *.safetensors), or null to initialise fresh weights.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>
    /// The directory of the <c>config.json</c> the shape was read from when no weights come with it
    /// (<c>gputel finetune --model DIR/config.json</c>), where the model's tokenizer is looked for;
    /// null for a built-in shape. A checkpoint's is <see cref="CheckpointDirectory"/>.
    /// </summary>
    public string? ConfigDirectory { get; init; }

    /// <summary>Where a dataset's text gets its ids (<see cref="DataFile"/> only; synthetic batches are ids already).</summary>
    public Data.TokenizerChoice Tokenizer { get; init; } = Data.TokenizerChoice.Auto;

    /// <summary>The directory holding the model's files: the checkpoint's, else the config.json's; null for a built-in shape.</summary>
    public string? ModelDirectory => CheckpointDirectory ?? ConfigDirectory;

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

    /// <summary>The shortest <see cref="CutoffLength"/> that trains anything (<see cref="TrainingSettings.MinimumCutoffLength"/>).</summary>
    public const int MinimumCutoffLength = TrainingSettings.MinimumCutoffLength;

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

    /// <summary>
    /// Where to train: <c>cpu</c>, or <c>cuda</c> / <c>cuda:N</c> for a CUDA device (its ordinal as
    /// libtorch numbers them, after <c>CUDA_VISIBLE_DEVICES</c>). A CUDA run needs libtorch's CUDA
    /// libraries from a PyTorch install (<see cref="TorchRuntime.TryInitializeCuda"/>) and is
    /// measured from the device's default memory pool (<see cref="Memory.CudaAllocatorSetting"/>).
    /// </summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Cpu;

    /// <summary>Optimizer steps to run.</summary>
    public int Steps { get; init; } = 10;

    /// <summary>Alpaca JSONL dataset, or null for synthetic batches.</summary>
    public string? DataFile { get; init; }

    /// <summary>Seed for initialisation and synthetic data.</summary>
    public long Seed { get; init; } = 42;

    /// <summary>Run id recorded in run.json and on every gauge.</summary>
    public string RunId { get; init; } = DateTimeOffset.UtcNow.ToString("yyyyMMdd-HHmmss", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Throws when a setting cannot make a run. <see cref="FineTuneRun.Run"/> calls it before building
    /// anything, and so does <c>gputel finetune</c> before it looks at its output directory: out of
    /// range, these settings would otherwise fail mid-run, after the run record was started (a dropout
    /// outside [0, 1) in native code, an empty LoRA target list in backward, with nothing to train),
    /// or train on nothing. Settings are named as <c>gputel finetune</c>'s options name them.
    /// </summary>
    /// <exception cref="ArgumentException">A setting is out of range; the message names it and its value.</exception>
    public void Validate()
    {
        Require(Steps > 0, "steps", Steps, "must be a positive number");
        Require(BatchSize > 0, "batch-size", BatchSize, "must be a positive number");
        Require(CutoffLength >= MinimumCutoffLength, "cutoff-len", CutoffLength,
            $"must be at least {MinimumCutoffLength} (the loss predicts each token from the ones before it)");
        Require(TrainableLayers > 0, "trainable-layers", TrainableLayers, "must be a positive number");
        // Only freeze trains the last layers; elsewhere the setting is unused.
        Require(Method != FineTuneMethod.Freeze || TrainableLayers <= Shape.Layers, "trainable-layers", TrainableLayers,
            $"the model has {Shape.Layers} layers");
        Require(double.IsFinite(LearningRate) && LearningRate > 0, "lr", LearningRate, "must be a positive number");
        bool cuda = Device.IsCuda;
        Require(!(cuda && ExactCpuPeaks), "device", Device, "--exact-cpu-peaks measures the CPU allocator; a CUDA run's peaks are exact already (the memory pool's high-water mark)");
        // The recomputation replays a layer's dropout from the generator's saved state: TorchSharp
        // can save and restore the CPU generator's, not a CUDA device's, so it would draw other masks.
        Require(!(cuda && GradientCheckpointing && Method == FineTuneMethod.Lora && Lora.Dropout > 0), "device", Device,
            "--gradient-checkpointing with --lora-dropout above 0 runs on the CPU only (TorchSharp cannot restore a CUDA generator's state for the recomputed dropout)");
        TrainingSettings.ValidateShared(Lora, GradientAccumulation);
        string targets = string.Join(',', Lora.TargetModules);
        Require(Lora.TargetModules.Count > 0, "lora-targets", targets,
            $"name at least one of {string.Join(", ", LoraSettings.AllProjections)}");
        foreach (string target in Lora.TargetModules)
        {
            // An unknown name would wrap nothing, and a model with nothing to train fails in backward.
            Require(LoraSettings.AllProjections.Contains(target), "lora-targets", targets,
                $"'{target}' is not one of {string.Join(", ", LoraSettings.AllProjections)}");
        }
    }

    private static void Require(bool valid, string name, object value, string requirement) =>
        TrainingSettings.Require(valid, name, value, requirement);
}
