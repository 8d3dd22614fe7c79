using Gputel.Profiler.Memory;
using static TorchSharp.torch;

namespace Gputel.Profiler.Tests.Memory;

public sealed class StorageAccountingTests
{
    [Fact]
    public void Views_transposes_and_repeats_share_one_storage()
    {
        using Tensor a = zeros(1000, 10);
        using Tensor view = a.narrow(0, 0, 10);
        using Tensor transposed = a.t();
        var set = new StorageSet();

        Assert.Equal(40_000, set.Claim(a));
        Assert.Equal(0, set.Claim(view));
        Assert.Equal(0, set.Claim(transposed));
        Assert.Equal(0, set.Claim(a));
        Assert.Equal(40_000, set.Bytes);
    }

    [Theory]
    [InlineData(ScalarType.Float32, 4)]
    [InlineData(ScalarType.BFloat16, 2)]
    [InlineData(ScalarType.Float16, 2)]
    [InlineData(ScalarType.Int64, 8)]
    [InlineData(ScalarType.Int8, 1)]
    public void Every_dtype_is_counted_by_its_size(ScalarType dtype, int size)
    {
        using Tensor t = zeros([333], dtype: dtype);
        Assert.Equal(333L * size, new StorageSet().Claim(t));
    }

    [Fact]
    public void Malloc_in_use_bytes_follow_libtorch_cpu_tensors()
    {
        // libtorch's one-time set-up (tens of MB) must not land inside the measurement.
        LibtorchRuntime.Prime();
        zeros(8 * 1024 * 1024).Dispose();
        long before = CpuAllocator.InUseBytes()!.Value;
        Tensor big = zeros(8 * 1024 * 1024); // 32 MiB
        long during = CpuAllocator.InUseBytes()!.Value;
        big.Dispose();
        long after = CpuAllocator.InUseBytes()!.Value;

        Assert.InRange(during - before, 32L << 20, (32L << 20) + (1L << 20));
        Assert.InRange(during - after, (32L << 20) - (1L << 20), (32L << 20) + (1L << 20));
    }
}
