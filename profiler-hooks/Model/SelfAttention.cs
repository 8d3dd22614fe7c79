using Gputel.Core.Model;
using static TorchSharp.torch;

namespace Gputel.Profiler.Model;

/// <summary>Causal grouped-query self-attention with rotary position embedding (Hugging Face <c>self_attn</c>).</summary>
public sealed class SelfAttention : nn.Module<Tensor, RotaryAngles, Tensor>
{
    private readonly ModelShape _shape;

    // Field names are the state-dict names Hugging Face uses.
    private nn.Module<Tensor, Tensor> q_proj;
    private nn.Module<Tensor, Tensor> k_proj;
    private nn.Module<Tensor, Tensor> v_proj;
    private nn.Module<Tensor, Tensor> o_proj;

    /// <summary>Creates the projections (q/k/v bias when the shape says so; o_proj never has one).</summary>
    public SelfAttention(ModelShape shape, ScalarType dtype, Device? device) : base(nameof(SelfAttention))
    {
        ArgumentNullException.ThrowIfNull(shape);
        _shape = shape;
        long queryWidth = shape.AttentionHeads * shape.HeadDim;
        long keyValueWidth = shape.KeyValueHeads * shape.HeadDim;
        q_proj = Projections.Create(shape.HiddenSize, queryWidth, shape.AttentionBias, dtype, device);
        k_proj = Projections.Create(shape.HiddenSize, keyValueWidth, shape.AttentionBias, dtype, device);
        v_proj = Projections.Create(shape.HiddenSize, keyValueWidth, shape.AttentionBias, dtype, device);
        o_proj = Projections.Create(queryWidth, shape.HiddenSize, false, dtype, device);
        RegisterComponents();
    }

    /// <summary>Attends causally over [batch, seq, hidden] and returns the same shape.</summary>
    public override Tensor forward(Tensor input1, RotaryAngles input2)
    {
        ArgumentNullException.ThrowIfNull(input1);
        ArgumentNullException.ThrowIfNull(input2);
        using var scope = NewDisposeScope();
        long batch = input1.shape[0], length = input1.shape[1];
        var query = input2.Apply(Heads(q_proj.call(input1), _shape.AttentionHeads));
        var key = RepeatForQueryGroups(input2.Apply(Heads(k_proj.call(input1), _shape.KeyValueHeads)));
        var value = RepeatForQueryGroups(Heads(v_proj.call(input1), _shape.KeyValueHeads));
        var attended = nn.functional.scaled_dot_product_attention(query, key, value, is_casual: true);
        return o_proj.call(attended.transpose(1, 2).reshape(batch, length, _shape.AttentionHeads * _shape.HeadDim)).MoveToOuterDisposeScope();
    }

    /// <summary>Wraps projections (used by LoRA); returns how many were replaced.</summary>
    internal int WrapProjections(Func<string, nn.Module<Tensor, Tensor>, nn.Module<Tensor, Tensor>?> wrap)
    {
        var before = new[] { q_proj, k_proj, v_proj, o_proj };
        q_proj = Projections.Swap(this, nameof(q_proj), q_proj, wrap);
        k_proj = Projections.Swap(this, nameof(k_proj), k_proj, wrap);
        v_proj = Projections.Swap(this, nameof(v_proj), v_proj, wrap);
        o_proj = Projections.Swap(this, nameof(o_proj), o_proj, wrap);
        return before.Zip([q_proj, k_proj, v_proj, o_proj]).Count(pair => !ReferenceEquals(pair.First, pair.Second));
    }

    // [batch, seq, heads * dim] -> [batch, heads, seq, dim]
    private Tensor Heads(Tensor projected, int heads) =>
        projected.view(projected.shape[0], projected.shape[1], heads, _shape.HeadDim).transpose(1, 2);

    // scaled_dot_product_attention has no grouped-query support in TorchSharp: give every query head its key/value head.
    private Tensor RepeatForQueryGroups(Tensor keyValue)
    {
        int groups = _shape.QueryGroupSize;
        if (groups == 1)
        {
            return keyValue;
        }
        long batch = keyValue.shape[0], heads = keyValue.shape[1], length = keyValue.shape[2];
        return keyValue.unsqueeze(2).expand(batch, heads, groups, length, _shape.HeadDim)
            .reshape(batch, heads * groups, length, _shape.HeadDim);
    }
}
