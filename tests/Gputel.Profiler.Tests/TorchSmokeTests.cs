using static TorchSharp.torch;

namespace Gputel.Profiler.Tests;

/// <summary>libtorch loads on this machine (Debian 12 needs the set-up's libstdc++) and computes.</summary>
public sealed class TorchSmokeTests
{
    [Fact]
    public void Libtorch_loads_and_multiplies_in_fp32_and_bf16()
    {
        Assert.StartsWith("2.", TorchRuntime.EnsureLoaded(), StringComparison.Ordinal);
        using Tensor a = tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        using Tensor b = matmul(a, a);
        Assert.Equal([7f, 10f, 15f, 22f], b.data<float>().ToArray());

        using Tensor a16 = a.to(ScalarType.BFloat16);
        using Tensor b16 = matmul(a16, a16).to(ScalarType.Float32);
        Assert.Equal([7f, 10f, 15f, 22f], b16.data<float>().ToArray());
    }
}
