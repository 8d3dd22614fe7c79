using System.Globalization;
using Gputel.Core.Model;
using Gputel.Core.Records;
using Gputel.Core.Training;

namespace Gputel.Core.Estimation;

/// <summary>
/// A fine-tuning configuration to estimate: the same settings <c>gputel finetune</c> takes, plus
/// where it runs (device, number of GPUs, ZeRO stage) and how attention is computed.
/// </summary>
public sealed record EstimateRequest
{
    /// <summary>The model's dimensions.</summary>
    public required ModelShape Shape { get; init; }

    /// <summary>Name of the shape or checkpoint, for display.</summary>
    public string ModelName { get; init; } = "custom";

    /// <summary>Full, freeze or LoRA.</summary>
    public FineTuneMethod Method { get; init; } = FineTuneMethod.Lora;

    /// <summary>For freeze: how many of the last layers train.</summary>
    public int TrainableLayers { get; init; } = 2;

    /// <summary>For LoRA: rank, alpha, targets.</summary>
    public LoraSettings Lora { get; init; } = new(rank: 8, alpha: 16);

    /// <summary>
    /// Precision (<see cref="TrainingVariantNames.Dtypes"/>): <c>fp32</c>, <c>bf16</c> or <c>fp16</c>
    /// keep weights, gradients and optimizer state in that dtype (as the reference workload trains);
    /// <c>bf16-mixed</c>/<c>fp16-mixed</c> are automatic mixed precision as Hugging Face Trainer and
    /// LLaMA-Factory run it (<c>bf16: true</c>): trainable parameters, their gradients and the AdamW
    /// moments in fp32, frozen weights and activations in 16-bit, or DeepSpeed's mixed precision
    /// under ZeRO.
    /// </summary>
    public string Dtype { get; init; } = "bf16";

    /// <summary>How the frozen base weights are quantized (QLoRA); only with LoRA.</summary>
    public WeightQuantization Quantization { get; init; }

    /// <summary>For 4-bit: whether the absmax constants are quantized again (bnb_4bit_use_double_quant, LLaMA-Factory's default).</summary>
    public bool DoubleQuantization { get; init; } = true;

    /// <summary>What DeepSpeed ZeRO offloads to CPU memory.</summary>
    public ZeroOffload Offload { get; init; }

    /// <summary>The training stage (SFT, DPO, KTO, reward modelling, PPO).</summary>
    public TrainingStage Stage { get; init; }

    /// <summary>AdamW or SGD with momentum.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.AdamW;

    /// <summary>Sequences per micro-batch.</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>Tokens per sequence (the cutoff length; sequences are padded or cut to it).</summary>
    public int CutoffLength { get; init; } = 1024;

    /// <summary>
    /// Micro-batches per optimizer step. Above 1 the gradients are kept from the first
    /// micro-batch's backward until zero_grad, so every later micro-batch's forward and backward run
    /// with all of them alive.
    /// </summary>
    public int GradientAccumulation { get; init; } = 1;

    /// <summary>Whether each decoder layer is recomputed in backward.</summary>
    public bool GradientCheckpointing { get; init; }

    /// <summary>Data-parallel GPUs that share model state under ZeRO.</summary>
    public int Gpus { get; init; } = 1;

    /// <summary>DeepSpeed ZeRO stage 0-3: 1 shards optimizer state, 2 also gradients, 3 also weights.</summary>
    public int ZeroStage { get; init; }

    /// <summary><c>cpu</c> (glibc, no cache, no CUDA context) or <c>cuda</c>.</summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Cuda();

    /// <summary>
    /// How attention is computed: <c>sdpa</c> (fused kernel, saves output and log-sum-exp) or
    /// <c>eager</c> (materialises the [batch, heads, seq, seq] score and probability matrices).
    /// </summary>
    public string Attention { get; init; } = "sdpa";

    /// <summary>
    /// The runtime category as measured for this configuration (<c>CpuRuntimeProbe</c> in the profiler), used
    /// instead of the typical figure when set.
    /// </summary>
    public RuntimeMeasurement? MeasuredRuntime { get; init; }

    /// <summary>Bytes per element of activations and of the compute dtype: 4 for fp32, else 2.</summary>
    public int DtypeBytes => Dtype == "fp32" ? 4 : 2;

    /// <summary>Whether this is automatic mixed precision (<c>bf16-mixed</c> or <c>fp16-mixed</c>).</summary>
    public bool MixedPrecision => Dtype.EndsWith("-mixed", StringComparison.Ordinal);

    /// <summary>Bytes per element of trainable parameters, gradients and optimizer state: 4 under mixed precision, else <see cref="DtypeBytes"/>.</summary>
    public int StateBytes => MixedPrecision ? 4 : DtypeBytes;

    /// <summary>Whether DeepSpeed's own mixed-precision layout applies: ZeRO with a mixed dtype.</summary>
    public bool DeepSpeedMixed => MixedPrecision && ZeroStage >= 1;

    /// <summary>
    /// The configuration a recorded run used, from its <c>run.json</c>. Throws
    /// <see cref="InvalidDataException"/> when the record does not say enough (an unknown model
    /// shape with no readable config.json, an unknown method, a LoRA alpha or a gradient
    /// accumulation that is not a number). A record without <c>gradient_accumulation</c>
    /// (written before runs recorded it) is read as one micro-batch per step.
    /// </summary>
    public static EstimateRequest FromRunInfo(RunInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        ModelShape shape;
        try
        {
            shape = ModelShape.Resolve(info.Model);
        }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"the run's model '{info.Model}' is neither a built-in shape nor a readable checkpoint: {e.Message}", e);
        }

        string Setting(string key, string fallback) => info.Settings.TryGetValue(key, out string? v) ? v : fallback;
        int Int(string key, int fallback) =>
            int.TryParse(Setting(key, fallback.ToString(CultureInfo.InvariantCulture)), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : fallback;

        string[] targets = Setting("lora_targets", string.Join(',', LoraSettings.AllProjections)).Split(',', StringSplitOptions.RemoveEmptyEntries);
        return new EstimateRequest
        {
            Shape = shape,
            ModelName = info.Model,
            Method = Enum.TryParse(info.Method, ignoreCase: true, out FineTuneMethod method) ? method : throw new InvalidDataException($"unknown method '{info.Method}' in run.json"),
            TrainableLayers = Int("trainable_layers", 2),
            Lora = new LoraSettings(Int("lora_rank", 8), Alpha(Setting("lora_alpha", "16")), Dropout(Setting("lora_dropout", "0")), targets),
            Dtype = info.Dtype,
            Optimizer = Setting("optimizer", "adamw") == "sgd" ? OptimizerKind.Sgd : OptimizerKind.AdamW,
            BatchSize = Int("batch_size", 1),
            CutoffLength = Int("cutoff_length", 128),
            GradientAccumulation = Accumulation(Setting("gradient_accumulation", "1")),
            GradientCheckpointing = Setting("gradient_checkpointing", "false") == "true",
            Device = info.Device.IsCuda ? ComputeDevice.Cuda() : ComputeDevice.Cpu,
        };

        // Records written before lora_dropout was recorded ran without dropout (the default).
        static double Dropout(string text) =>
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double dropout) && dropout is >= 0 and < 1
                ? dropout
                : throw new InvalidDataException($"run.json's lora_dropout '{text}' is not a number from 0 to below 1");

        static double Alpha(string text) =>
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double alpha)
                ? alpha
                : throw new InvalidDataException($"run.json's lora_alpha '{text}' is not a number");

        // Not read leniently as the sizes above are: falling back to 1 would drop the gradients
        // from every later micro-batch's forward pass and understate the peak.
        static int Accumulation(string text) =>
            int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= 1
                ? n
                : throw new InvalidDataException($"run.json's gradient_accumulation '{text}' is not a positive whole number");
    }
}
