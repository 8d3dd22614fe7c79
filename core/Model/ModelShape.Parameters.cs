namespace Gputel.Core.Model;

/// <summary>Parameter counts by component, computed from a <see cref="ModelShape"/> alone.</summary>
/// <param name="Embedding">The token embedding matrix.</param>
/// <param name="AttentionPerLayer">q/k/v/o projections (and q/k/v biases) of one layer.</param>
/// <param name="MlpPerLayer">gate/up/down projections of one layer.</param>
/// <param name="NormsPerLayer">The two RMSNorm weights of one layer.</param>
/// <param name="Layers">Number of decoder layers.</param>
/// <param name="FinalNorm">The RMSNorm after the last layer.</param>
/// <param name="LmHead">The output projection; zero when tied to the embedding (it is the same tensor).</param>
/// <param name="Vision">A vision-language model's vision tower (patch embedding, blocks, merger); zero for text-only models. Not in <see cref="Total"/>.</param>
public sealed record ParameterCounts(
    long Embedding,
    long AttentionPerLayer,
    long MlpPerLayer,
    long NormsPerLayer,
    int Layers,
    long FinalNorm,
    long LmHead,
    long Vision = 0)
{
    /// <summary>Parameters of one decoder layer.</summary>
    public long PerLayer => AttentionPerLayer + MlpPerLayer + NormsPerLayer;

    /// <summary>Parameters of all decoder layers.</summary>
    public long AllLayers => PerLayer * Layers;

    /// <summary>
    /// Distinct parameters of the language model (a tied LM head counts once, as Hugging Face does);
    /// a vision tower is counted apart, in <see cref="Vision"/>, as it trains apart (frozen by default).
    /// </summary>
    public long Total => Embedding + AllLayers + FinalNorm + LmHead;

    /// <summary>Every parameter, the vision tower's included: the figure a model card gives.</summary>
    public long WithVision => Total + Vision;
}

/// <content>Analytic parameter counts.</content>
public sealed partial record ModelShape
{
    /// <summary>Counts the model's parameters by component without building it.</summary>
    public ParameterCounts ParameterCount()
    {
        long queryWidth = AttentionHeads * HeadDim;
        long keyValueWidth = KeyValueHeads * HeadDim;
        long attentionBias = AttentionBias ? queryWidth + 2 * keyValueWidth : 0;
        long attention = HiddenSize * queryWidth + 2 * HiddenSize * keyValueWidth + queryWidth * HiddenSize + attentionBias;
        long mlp = 3 * HiddenSize * IntermediateSize;
        long embedding = VocabSize * HiddenSize;
        // Qwen3's q_norm and k_norm: one RMSNorm weight over the head dimension each, shared by the heads.
        long norms = 2 * HiddenSize + (QkNorm ? 2 * HeadDim : 0);
        return new ParameterCounts(embedding, attention, mlp, norms, Layers, HiddenSize, TiedEmbeddings ? 0 : embedding, Vision?.Parameters ?? 0);
    }

    /// <summary>Weights of the seven projections of one layer (no biases): what bitsandbytes quantizes.</summary>
    public long ProjectionWeightsPerLayer
    {
        get
        {
            long q = AttentionHeads * HeadDim, kv = KeyValueHeads * HeadDim;
            return (HiddenSize * q) + (2 * HiddenSize * kv) + (q * HiddenSize) + (3 * HiddenSize * IntermediateSize);
        }
    }

    /// <summary>Output rows of the seven projections of one layer (LLM.int8 keeps one scale per row).</summary>
    public long ProjectionRowsPerLayer => (AttentionHeads * HeadDim) + (2 * KeyValueHeads * HeadDim) + HiddenSize + (2 * IntermediateSize) + HiddenSize;

    /// <summary>The largest single weight matrix (DeepSpeed's "largest layer"): the embedding or an MLP projection.</summary>
    public long LargestLayerParameters => Math.Max(VocabSize * HiddenSize, HiddenSize * IntermediateSize);

    /// <summary>
    /// Trainable parameters LoRA adds: r × (in + out) for every targeted projection in every layer.
    /// A projection named twice counts once, as the model wraps it once.
    /// </summary>
    /// <exception cref="ArgumentException">A target is not a projection of this architecture.</exception>
    public long LoraParameterCount(LoraSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        long perLayer = 0;
        foreach (var target in settings.TargetModules.Distinct(StringComparer.Ordinal))
        {
            var (inputs, outputs) = ProjectionSize(target);
            perLayer += settings.Rank * (inputs + outputs);
        }
        return perLayer * Layers;
    }

    /// <summary>Input and output width of a projection named as in Hugging Face (<c>q_proj</c>, <c>down_proj</c>, ...).</summary>
    /// <exception cref="ArgumentException">The name is not a projection of this architecture.</exception>
    public (long Inputs, long Outputs) ProjectionSize(string projection) => projection switch
    {
        "q_proj" => (HiddenSize, AttentionHeads * HeadDim),
        "k_proj" or "v_proj" => (HiddenSize, KeyValueHeads * HeadDim),
        "o_proj" => (AttentionHeads * HeadDim, HiddenSize),
        "gate_proj" or "up_proj" => (HiddenSize, IntermediateSize),
        "down_proj" => (IntermediateSize, HiddenSize),
        _ => throw new ArgumentException(
            $"'{projection}' is not a decoder projection (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj).", nameof(projection)),
    };
}
