using Gputel.Core.Model;
using static TorchSharp.torch;

namespace Gputel.Profiler.Model;

/// <summary>One pre-norm decoder layer: x + attn(norm(x)), then h + mlp(norm(h)) (Hugging Face <c>layers.{i}</c>).</summary>
public sealed class DecoderLayer : nn.Module<Tensor, RotaryAngles, Tensor>
{
    // Field names are the state-dict names Hugging Face uses.
    private readonly RmsNorm input_layernorm;
    private readonly SelfAttention self_attn;
    private readonly RmsNorm post_attention_layernorm;
    private readonly SwiGluMlp mlp;

    /// <summary>Creates the layer's norms, attention and MLP.</summary>
    public DecoderLayer(ModelShape shape, ScalarType dtype, Device? device) : base(nameof(DecoderLayer))
    {
        ArgumentNullException.ThrowIfNull(shape);
        input_layernorm = new RmsNorm(shape.HiddenSize, shape.RmsNormEps, dtype, device);
        self_attn = new SelfAttention(shape, dtype, device);
        post_attention_layernorm = new RmsNorm(shape.HiddenSize, shape.RmsNormEps, dtype, device);
        mlp = new SwiGluMlp(shape, dtype, device);
        RegisterComponents();
    }

    /// <summary>The attention block, for LoRA wrapping.</summary>
    internal SelfAttention Attention => self_attn;

    /// <summary>The MLP block, for LoRA wrapping.</summary>
    internal SwiGluMlp Mlp => mlp;

    /// <summary>Transforms the residual stream [batch, seq, hidden].</summary>
    public override Tensor forward(Tensor input1, RotaryAngles input2)
    {
        // Intermediates are released when the layer returns, as Python's reference counting would
        // release them: autograd keeps its own references to what backward needs, so only saved
        // tensors stay alive, and the memory measured is the model's, not the dispose scope's.
        using var scope = NewDisposeScope();
        var afterAttention = input1 + self_attn.call(input_layernorm.call(input1), input2);
        return (afterAttention + mlp.call(post_attention_layernorm.call(afterAttention))).MoveToOuterDisposeScope();
    }
}
