using Gputel.Core.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gputel.Profiler.Model;

/// <summary>Embedding, decoder layers and final norm: the Hugging Face <c>model</c> sub-module.</summary>
public sealed class DecoderStack : nn.Module<Tensor, Tensor>
{
    private readonly ModelShape _shape;

    // Field names are the state-dict names Hugging Face uses.
    private readonly Embedding embed_tokens;
    private readonly ModuleList<DecoderLayer> layers;
    private readonly RmsNorm norm;

    // The same layers as a plain array; ModuleList is not an IReadOnlyList. Arrays are not registered.
    private readonly DecoderLayer[] _layers;

    /// <summary>Creates the stack in <paramref name="dtype"/> on <paramref name="device"/>.</summary>
    public DecoderStack(ModelShape shape, ScalarType dtype, Device? device) : base(nameof(DecoderStack))
    {
        ArgumentNullException.ThrowIfNull(shape);
        _shape = shape;
        embed_tokens = nn.Embedding(shape.VocabSize, shape.HiddenSize, device: device, dtype: dtype);
        _layers = [.. Enumerable.Range(0, shape.Layers).Select(_ => new DecoderLayer(shape, dtype, device))];
        layers = nn.ModuleList(_layers);
        norm = new RmsNorm(shape.HiddenSize, shape.RmsNormEps, dtype, device);
        RegisterComponents();
    }

    /// <summary>Whether layers are recomputed in backward instead of keeping their activations.</summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>The token embedding, also the LM head when embeddings are tied.</summary>
    internal Parameter EmbeddingWeight => embed_tokens.weight ?? throw new InvalidOperationException("The embedding has no weight.");

    /// <summary>The decoder layers, first to last.</summary>
    internal IReadOnlyList<DecoderLayer> Layers => _layers;

    /// <summary>Maps token ids [batch, seq] to final hidden states [batch, seq, hidden].</summary>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        // Each layer's output is released when the next has consumed it (autograd keeps what it saved).
        using var scope = NewDisposeScope();
        var hidden = embed_tokens.call(input);
        var angles = RotaryAngles.For(input.shape[1], _shape.HeadDim, _shape.RopeTheta, hidden.dtype, hidden.device);
        // A checkpointed layer re-runs in backward with these angles: they must outlive this scope.
        angles.Cos.MoveToOuterDisposeScope();
        angles.Sin.MoveToOuterDisposeScope();
        // Checkpointing only pays when a backward will follow.
        bool checkpoint = GradientCheckpointing && is_grad_enabled();
        foreach (var layer in _layers)
        {
            hidden = checkpoint ? LayerCheckpoint.Run(layer, hidden, angles) : layer.call(hidden, angles);
        }
        return norm.call(hidden).MoveToOuterDisposeScope();
    }
}
