using Gputel.Core.Model;
using static TorchSharp.torch;

namespace Gputel.Profiler.Model;

/// <summary>The SwiGLU feed-forward block: down(silu(gate(x)) * up(x)) (Hugging Face <c>mlp</c>).</summary>
public sealed class SwiGluMlp : nn.Module<Tensor, Tensor>
{
    // Field names are the state-dict names Hugging Face uses.
    private nn.Module<Tensor, Tensor> gate_proj;
    private nn.Module<Tensor, Tensor> up_proj;
    private nn.Module<Tensor, Tensor> down_proj;

    /// <summary>Creates the three bias-free projections.</summary>
    public SwiGluMlp(ModelShape shape, ScalarType dtype, Device? device) : base(nameof(SwiGluMlp))
    {
        ArgumentNullException.ThrowIfNull(shape);
        gate_proj = Projections.Create(shape.HiddenSize, shape.IntermediateSize, false, dtype, device);
        up_proj = Projections.Create(shape.HiddenSize, shape.IntermediateSize, false, dtype, device);
        down_proj = Projections.Create(shape.IntermediateSize, shape.HiddenSize, false, dtype, device);
        RegisterComponents();
    }

    /// <summary>Applies the block to [batch, seq, hidden].</summary>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return down_proj.call(nn.functional.silu(gate_proj.call(input)) * up_proj.call(input)).MoveToOuterDisposeScope();
    }

    /// <summary>Wraps projections (used by LoRA); returns how many were replaced.</summary>
    internal int WrapProjections(Func<string, nn.Module<Tensor, Tensor>, nn.Module<Tensor, Tensor>?> wrap)
    {
        var before = new[] { gate_proj, up_proj, down_proj };
        gate_proj = Projections.Swap(this, nameof(gate_proj), gate_proj, wrap);
        up_proj = Projections.Swap(this, nameof(up_proj), up_proj, wrap);
        down_proj = Projections.Swap(this, nameof(down_proj), down_proj, wrap);
        return before.Zip([gate_proj, up_proj, down_proj]).Count(pair => !ReferenceEquals(pair.First, pair.Second));
    }
}
