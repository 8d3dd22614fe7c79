using Gputel.Profiler.Memory;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gputel.Profiler.Tests.Memory;

public sealed class StorageAccountingTests
{
    [Theory]
    [InlineData("adamw", 2)]
    [InlineData("adamw-amsgrad", 3)]
    [InlineData("adam", 2)]
    [InlineData("sgd-momentum", 1)]
    [InlineData("rmsprop", 3)] // read through its fields: TorchSharp keeps square_avg, momentum_buffer and grad_avg for each
    public void Optimizer_state_lists_each_kind_of_state_once_per_parameter(string kind, int perParameter)
    {
        using var model = nn.Linear(64, 32); // 2080 parameters in 2 tensors
        Parameter[] parameters = [.. model.parameters()];
        using OptimizerHelper optimizer = kind switch
        {
            "adamw" => optim.AdamW(parameters),
            "adamw-amsgrad" => optim.AdamW(parameters, amsgrad: true),
            "adam" => optim.Adam(parameters),
            "sgd-momentum" => optim.SGD(parameters, 0.01, momentum: 0.9),
            _ => optim.RMSProp(parameters),
        };
        using (NewDisposeScope())
        {
            model.call(ones(4, 64)).sum().backward();
            optimizer.step();
        }

        Tensor[] state = [.. OptimizerStateTensors.Of(optimizer)];
        Assert.Equal(perParameter * parameters.Length, state.Length);
        Assert.DoesNotContain(state, t => t is Parameter);
        Assert.Equal(perParameter * 2080 * 4, new StorageSet().ClaimAll(state));

        // Read from the optimizer's own table (a TorchSharp that renames it falls back to state_dict,
        // and this says so): the same tensor objects, in the same order, as state_dict lists them.
        Assert.True(OptimizerStateTensors.ReadsStateTable, "this TorchSharp's optimizers keep no _state table");
        Tensor[] throughStateDict = [.. OptimizerStateTensors.Of(optimizer, fromTable: false)];
        Assert.Equal(throughStateDict.Length, state.Length);
        Assert.All(Enumerable.Range(0, state.Length), i => Assert.Same(throughStateDict[i], state[i]));
    }

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

    [Fact]
    public void A_gradient_is_found_by_its_storage_without_a_managed_tensor_and_counted_once()
    {
        using var w = zeros(300, 7).requires_grad_();
        using var frozen = zeros(11);
        var set = new StorageSet();

        // No gradient yet, and never one for a tensor that does not require it.
        Assert.Equal(0, set.ClaimGradientOf(w));
        Assert.Equal(0, set.ClaimGradientOf(frozen));

        using (NewDisposeScope())
        {
            (w * 2).sum().backward();
        }

        Assert.Equal(300 * 7 * 4, set.ClaimGradientOf(w));
        Assert.Equal(0, set.ClaimGradientOf(w));
        using (Tensor grad = w.grad!)
        {
            // The same storage as TorchSharp's own wrapper reports, so other categories dedup against it.
            Assert.Equal(0, set.Claim(grad));
            Assert.Equal(300 * 7 * 4, new StorageSet().Claim(grad));
        }

        Assert.Equal(300 * 7 * 4, set.Bytes);
    }

    [Fact]
    public void A_gradient_read_by_reference_is_the_one_a_native_reference_reads()
    {
        // This libtorch exports at::Tensor::grad and passed the self-check; a TorchSharp that
        // does not would fall back, and this says so rather than compare the fallback with itself.
        Assert.True(NativeStorage.ReadsGradientByReference, "gradients are read through THSTensor_grad: at::Tensor::grad is not exported or failed its check");
        using var w = zeros([64, 3], dtype: ScalarType.BFloat16).requires_grad_();
        using var v = zeros(5).requires_grad_();
        using var frozen = zeros(9);
        Assert.Equal((IntPtr.Zero, 0L), NativeStorage.GradientOf(w, byReference: true));
        using (NewDisposeScope())
        {
            (w.to(ScalarType.Float32).sum() * 3).backward();
        }

        (IntPtr address, long bytes) = NativeStorage.GradientOf(w, byReference: true);
        Assert.Equal(NativeStorage.GradientOf(w, byReference: false), (address, bytes));
        Assert.Equal(64 * 3 * 2, bytes);
        using (Tensor grad = w.grad!)
        {
            Assert.Equal(NativeStorage.Of(grad).Address, address);
        }

        // A leaf that requires a gradient but has none yet, and a tensor that never has one.
        Assert.Equal((IntPtr.Zero, 0L), NativeStorage.GradientOf(v, byReference: true));
        Assert.Equal((IntPtr.Zero, 0L), NativeStorage.GradientOf(frozen, byReference: true));
        w.grad = null;
        Assert.Equal((IntPtr.Zero, 0L), NativeStorage.GradientOf(w, byReference: true));
    }

    [Fact]
    public void Reading_gradients_does_not_keep_them_alive()
    {
        LibtorchRuntime.Prime();
        using var w = zeros(1024, 1024).requires_grad_(); // a 4 MiB gradient
        using (NewDisposeScope())
        {
            (w * 2).sum().backward();
        }

        for (int i = 0; i < 100; i++)
        {
            _ = new StorageSet().ClaimGradientOf(w);
        }

        // Nothing left for a finalizer to free inside the measurement (malloc's figure is the process's).
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = CpuAllocator.InUseBytes()!.Value;
        w.grad = null;
        long after = CpuAllocator.InUseBytes()!.Value;

        // Setting the gradient to none frees it at once: no reference from the lookups is left.
        Assert.InRange(before - after, (4L << 20) - (256 << 10), (4L << 20) + (256 << 10));
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
