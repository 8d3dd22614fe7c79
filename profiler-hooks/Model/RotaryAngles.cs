using static TorchSharp.torch;

namespace Gputel.Profiler.Model;

/// <summary>The cosines and sines of rotary position embedding for one sequence length, shape [1, 1, seq, head dim].</summary>
/// <param name="Cos">Cosines, in the model's dtype.</param>
/// <param name="Sin">Sines, in the model's dtype.</param>
public sealed record RotaryAngles(Tensor Cos, Tensor Sin)
{
    /// <summary>Angles for positions 0..length-1, as Hugging Face's default rotary embedding computes them.</summary>
    public static RotaryAngles For(long length, long headDim, double theta, ScalarType dtype, Device device)
    {
        // inv_freq = theta^(-2i/d), computed in fp32 like Hugging Face.
        var exponents = arange(0, headDim, 2, ScalarType.Float32, device) / headDim;
        var inverseFrequencies = exp(exponents * -Math.Log(theta));
        var positions = arange(length, ScalarType.Float32, device);
        var frequencies = outer(positions, inverseFrequencies);
        var angles = cat([frequencies, frequencies], -1).unsqueeze(0).unsqueeze(0);
        return new RotaryAngles(angles.cos().to(dtype), angles.sin().to(dtype));
    }

    /// <summary>Rotates query or key heads [batch, heads, seq, head dim] by their positions.</summary>
    public Tensor Apply(Tensor heads)
    {
        long half = heads.shape[^1] / 2;
        var rotatedHalf = cat([-heads.narrow(-1, half, half), heads.narrow(-1, 0, half)], -1);
        return heads * Cos + rotatedHalf * Sin;
    }
}
