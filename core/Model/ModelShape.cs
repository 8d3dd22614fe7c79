namespace Gputel.Core.Model;

/// <summary>
/// The dimensions of a Llama/Qwen2 decoder: everything needed to build the module or to count its
/// parameters without building it. Names follow the Hugging Face config.json fields.
/// </summary>
/// <param name="VocabSize">Tokens in the vocabulary (<c>vocab_size</c>).</param>
/// <param name="HiddenSize">Width of the residual stream (<c>hidden_size</c>).</param>
/// <param name="IntermediateSize">Width of the SwiGLU MLP (<c>intermediate_size</c>).</param>
/// <param name="Layers">Decoder layers (<c>num_hidden_layers</c>).</param>
/// <param name="AttentionHeads">Query heads (<c>num_attention_heads</c>).</param>
/// <param name="KeyValueHeads">Key/value heads for grouped-query attention (<c>num_key_value_heads</c>).</param>
/// <param name="HeadDim">Width of one head (<c>head_dim</c>, else hidden size / heads).</param>
/// <param name="MaxPositions">Longest sequence the model is configured for (<c>max_position_embeddings</c>).</param>
/// <param name="RopeTheta">Rotary embedding base (<c>rope_theta</c>).</param>
/// <param name="RmsNormEps">RMSNorm epsilon (<c>rms_norm_eps</c>).</param>
/// <param name="TiedEmbeddings">Whether the LM head reuses the embedding matrix (<c>tie_word_embeddings</c>).</param>
/// <param name="AttentionBias">Whether q/k/v projections have a bias (Qwen2 yes, Llama no).</param>
/// <param name="QkNorm">Whether queries and keys pass an RMSNorm over the head dimension before rotary embedding (Qwen3).</param>
/// <param name="Vision">The vision tower of a vision-language model (Qwen2-VL, Qwen2.5-VL); null for a text-only model.</param>
public sealed partial record ModelShape(
    long VocabSize,
    long HiddenSize,
    long IntermediateSize,
    int Layers,
    int AttentionHeads,
    int KeyValueHeads,
    long HeadDim,
    long MaxPositions,
    double RopeTheta,
    double RmsNormEps,
    bool TiedEmbeddings,
    bool AttentionBias,
    bool QkNorm = false,
    VisionTower? Vision = null)
{
    /// <summary>A two-layer model small enough for unit tests (Qwen2 layout, untied, with q/k/v bias).</summary>
    public static ModelShape Tiny { get; } = new(512, 64, 176, 2, 4, 2, 16, 128, 10_000, 1e-6, false, true);

    /// <summary>Qwen2.5-0.5B: 494,032,768 parameters with tied embeddings.</summary>
    public static ModelShape Qwen25_0_5B { get; } = new(151_936, 896, 4864, 24, 14, 2, 64, 32_768, 1_000_000, 1e-6, true, true);

    /// <summary>The Qwen2-1.5B layout of DeepSeek-R1-Distill-Qwen-1.5B (untied embeddings).</summary>
    public static ModelShape Qwen2_1_5B { get; } = new(151_936, 1536, 8960, 28, 12, 2, 128, 131_072, 10_000, 1e-6, false, true);

    /// <summary>Qwen2-7B (untied embeddings).</summary>
    public static ModelShape Qwen2_7B { get; } = new(152_064, 3584, 18_944, 28, 28, 4, 128, 131_072, 1_000_000, 1e-6, false, true);

    /// <summary>Qwen2.5-14B (untied embeddings).</summary>
    public static ModelShape Qwen25_14B { get; } = new(152_064, 5120, 13_824, 48, 40, 8, 128, 131_072, 1_000_000, 1e-5, false, true);

    /// <summary>Qwen2.5-32B (untied embeddings).</summary>
    public static ModelShape Qwen25_32B { get; } = new(152_064, 5120, 27_648, 64, 40, 8, 128, 32_768, 1_000_000, 1e-6, false, true);

    /// <summary>Qwen2.5-72B (untied embeddings).</summary>
    public static ModelShape Qwen25_72B { get; } = new(152_064, 8192, 29_568, 80, 64, 8, 128, 131_072, 1_000_000, 1e-6, false, true);

    private static readonly Dictionary<string, ModelShape> BuiltIn = new(StringComparer.OrdinalIgnoreCase)
    {
        ["tiny"] = Tiny,
        ["qwen2.5-0.5b"] = Qwen25_0_5B,
        ["qwen2-1.5b"] = Qwen2_1_5B,
        ["qwen2-7b"] = Qwen2_7B,
        ["qwen2.5-14b"] = Qwen25_14B,
        ["qwen2.5-32b"] = Qwen25_32B,
        ["qwen2.5-72b"] = Qwen25_72B,
    };

    /// <summary>Names accepted by <see cref="Named"/>.</summary>
    public static IReadOnlyCollection<string> BuiltInNames => BuiltIn.Keys;

    /// <summary>A built-in shape by name (case-insensitive), e.g. <c>qwen2.5-0.5b</c>.</summary>
    /// <exception cref="ArgumentException">The name is not a built-in shape.</exception>
    public static ModelShape Named(string name) =>
        BuiltIn.TryGetValue(name, out var shape)
            ? shape
            : throw new ArgumentException($"Unknown model shape '{name}'; known: {string.Join(", ", BuiltIn.Keys)}.", nameof(name));

    /// <summary>
    /// A shape as users name it: a built-in name, a Hugging Face <c>config.json</c>, or a directory
    /// holding one (a checkpoint).
    /// </summary>
    /// <exception cref="ArgumentException">Not a built-in name, a .json file or a directory.</exception>
    /// <exception cref="FileNotFoundException">The config.json named does not exist.</exception>
    /// <exception cref="InvalidDataException">The config.json is not a valid model configuration.</exception>
    public static ModelShape Resolve(string nameOrPath)
    {
        ArgumentNullException.ThrowIfNull(nameOrPath);
        if (BuiltIn.TryGetValue(nameOrPath, out var shape))
        {
            return shape;
        }

        if (nameOrPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            return FromConfigJson(nameOrPath);
        }

        return Directory.Exists(nameOrPath) ? FromConfigJson(Path.Combine(nameOrPath, "config.json")) : Named(nameOrPath);
    }

    /// <summary>
    /// The config.json that <see cref="Resolve"/> reads for <paramref name="nameOrPath"/>, or null
    /// for a built-in shape (which has none).
    /// </summary>
    public static string? ConfigPath(string nameOrPath)
    {
        ArgumentNullException.ThrowIfNull(nameOrPath);
        if (BuiltIn.ContainsKey(nameOrPath))
        {
            return null;
        }

        return nameOrPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? nameOrPath
            : Directory.Exists(nameOrPath) ? Path.Combine(nameOrPath, "config.json")
            : null;
    }

    /// <summary>
    /// Why the reference workload (<c>gputel finetune</c>, which builds Qwen2/Llama decoders) cannot
    /// build this shape, or null when it can: the estimator models more architectures than it trains.
    /// </summary>
    public string? NotTrainableReason =>
        Vision is not null ? "a vision-language model (its vision tower)"
        : QkNorm ? "a Qwen3 model (its query/key norms)"
        : null;

    /// <summary>Query heads that share one key/value head.</summary>
    public int QueryGroupSize => AttentionHeads / KeyValueHeads;

    /// <summary>Throws when the dimensions cannot form a model (GQA needs heads divisible by kv heads, RoPE an even head dim).</summary>
    /// <exception cref="ArgumentException">A dimension is out of range.</exception>
    public void Validate()
    {
        Require(VocabSize > 0 && HiddenSize > 0 && IntermediateSize > 0 && Layers > 0, "sizes and layer count must be positive");
        Require(AttentionHeads > 0 && KeyValueHeads > 0 && AttentionHeads % KeyValueHeads == 0,
            $"attention heads ({AttentionHeads}) must be a positive multiple of key/value heads ({KeyValueHeads})");
        Require(HeadDim > 0 && HeadDim % 2 == 0, $"head dim ({HeadDim}) must be positive and even for rotary embeddings");
        Require(RopeTheta > 0 && RmsNormEps > 0, "rope theta and rms norm eps must be positive");
    }

    private void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new ArgumentException($"Invalid model shape {this}: {message}.");
        }
    }
}
