using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gputel.Profiler.Model;

/// <summary>Root-mean-square layer norm as Llama/Qwen2 use it (parameter <c>weight</c>, no bias).</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly double _eps;

    // The field name is the state-dict name Hugging Face uses.
    private readonly Parameter weight;

    /// <summary>Creates the norm with weight ones.</summary>
    public RmsNorm(long size, double eps, ScalarType dtype, Device? device) : base(nameof(RmsNorm))
    {
        _eps = eps;
        weight = new Parameter(ones(size, dtype, device));
        RegisterComponents();
    }

    /// <summary>Normalises the last dimension.</summary>
    public override Tensor forward(Tensor input)
    {
        // Computed in fp32 as Hugging Face does, so bf16 models keep the variance precise.
        using var scope = NewDisposeScope();
        var x = input.to(ScalarType.Float32);
        var normalized = x * rsqrt(x.pow(2).mean([-1], keepdim: true) + _eps);
        return (weight * normalized.to(input.dtype)).MoveToOuterDisposeScope();
    }
}
