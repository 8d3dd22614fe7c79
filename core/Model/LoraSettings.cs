namespace Gputel.Core.Model;

/// <summary>LoRA hyper-parameters, named as in PEFT's <c>LoraConfig</c>.</summary>
/// <param name="Rank">Adapter rank r.</param>
/// <param name="Alpha">Scaling numerator: the adapter output is multiplied by alpha / r.</param>
/// <param name="Dropout">Dropout on the adapter's input during training.</param>
/// <param name="TargetModules">Projection names to wrap (<c>q_proj</c>, ..., <c>down_proj</c>).</param>
public sealed record LoraSettings(int Rank, double Alpha, double Dropout, IReadOnlyList<string> TargetModules)
{
    /// <summary>Every projection of a decoder layer, as commonly targeted for Llama/Qwen2.</summary>
    public static IReadOnlyList<string> AllProjections { get; } =
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>Settings with the given rank and alpha on every projection.</summary>
    public LoraSettings(int rank = 16, double alpha = 32, double dropout = 0)
        : this(rank, alpha, dropout, AllProjections)
    {
    }

    /// <summary>The factor applied to the adapter's output.</summary>
    public double Scaling => Alpha / Rank;
}
