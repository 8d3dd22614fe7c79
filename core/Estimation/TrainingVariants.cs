namespace Gputel.Core.Estimation;

/// <summary>How the frozen base weights are stored (bitsandbytes, as QLoRA loads them).</summary>
public enum WeightQuantization
{
    /// <summary>Not quantized: every weight in the run's dtype.</summary>
    None,

    /// <summary>
    /// bitsandbytes 4-bit (NF4 or FP4): half a byte per weight and one absmax per block of 64, kept
    /// as 8-bit with one fp32 constant per 256 blocks under double quantization, else in fp32.
    /// </summary>
    FourBit,

    /// <summary>bitsandbytes LLM.int8: one byte per weight and one fp32 scale per output row.</summary>
    EightBit,
}

/// <summary>What DeepSpeed ZeRO moves to CPU memory.</summary>
public enum ZeroOffload
{
    /// <summary>Nothing: model state stays on the GPUs.</summary>
    None,

    /// <summary>The optimizer (fp32 master weights, moments, fp32 gradients): ZeRO 1-3.</summary>
    Optimizer,

    /// <summary>The optimizer and the 16-bit parameters too: ZeRO-3 only.</summary>
    Params,
}

/// <summary>The training stage, as LLaMA-Factory names them (<c>stage:</c> in its YAML).</summary>
public enum TrainingStage
{
    /// <summary>Supervised fine-tuning: one sequence per example, the next-token loss over the vocabulary.</summary>
    Sft,

    /// <summary>Direct preference optimization: chosen and rejected sequences together, a frozen reference model.</summary>
    Dpo,

    /// <summary>KTO: one sequence per example with a reference model and a KL batch run without gradients.</summary>
    Kto,

    /// <summary>Reward modelling: chosen and rejected sequences, a value head instead of the vocabulary loss.</summary>
    Rm,

    /// <summary>PPO: policy with a value head, a reference and a reward model, and generation with a KV cache.</summary>
    Ppo,
}

/// <summary>Parsing the command-line names of <see cref="WeightQuantization"/>, <see cref="ZeroOffload"/> and <see cref="TrainingStage"/>.</summary>
public static class TrainingVariantNames
{
    /// <summary>The dtypes the estimator takes: pure 16-bit, fp32, and the two mixed-precision modes.</summary>
    public static IReadOnlyList<string> Dtypes { get; } = ["bf16-mixed", "fp16-mixed", "bf16", "fp16", "fp32"];

    /// <summary><c>none</c>, <c>4bit</c> or <c>8bit</c>.</summary>
    /// <exception cref="ArgumentException">Any other text, named in the message.</exception>
    public static WeightQuantization ParseQuantization(string text) => text switch
    {
        "none" => WeightQuantization.None,
        "4bit" => WeightQuantization.FourBit,
        "8bit" => WeightQuantization.EightBit,
        _ => throw new ArgumentException($"invalid quantization '{text}': expected none, 4bit or 8bit"),
    };

    /// <summary>The command-line name of <paramref name="q"/>.</summary>
    public static string Name(this WeightQuantization q) => q switch
    {
        WeightQuantization.FourBit => "4bit",
        WeightQuantization.EightBit => "8bit",
        _ => "none",
    };

    /// <summary><c>none</c>, <c>optimizer</c> or <c>params</c>.</summary>
    /// <exception cref="ArgumentException">Any other text, named in the message.</exception>
    public static ZeroOffload ParseOffload(string text) => text switch
    {
        "none" => ZeroOffload.None,
        "optimizer" => ZeroOffload.Optimizer,
        "params" => ZeroOffload.Params,
        _ => throw new ArgumentException($"invalid offload '{text}': expected none, optimizer or params"),
    };

    /// <summary>The command-line name of <paramref name="o"/>.</summary>
    public static string Name(this ZeroOffload o) => o.ToString().ToLowerInvariant();

    /// <summary><c>sft</c>, <c>dpo</c>, <c>kto</c>, <c>rm</c> or <c>ppo</c>.</summary>
    /// <exception cref="ArgumentException">Any other text, named in the message.</exception>
    public static TrainingStage ParseStage(string text) =>
        Enum.TryParse(text, ignoreCase: true, out TrainingStage stage) && Enum.IsDefined(stage) && !int.TryParse(text, out _)
            ? stage
            : throw new ArgumentException($"invalid stage '{text}': expected sft, dpo, kto, rm or ppo");

    /// <summary>The command-line name of <paramref name="s"/>.</summary>
    public static string Name(this TrainingStage s) => s.ToString().ToLowerInvariant();
}
