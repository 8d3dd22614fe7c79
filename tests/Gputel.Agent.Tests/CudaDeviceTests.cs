using System.Runtime.InteropServices;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary>
/// <c>gputel finetune --device cuda</c> where it cannot run: each obstacle is named, with what to do,
/// before the run record exists. The fake CUDA driver gets a run past the driver's checks to libtorch's
/// CUDA backend, which this build (libtorch for the CPU) cannot start.
/// </summary>
public sealed class CudaDeviceTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Without_a_cuda_driver_the_run_is_refused_and_nothing_is_written()
    {
        Assert.SkipWhen(NativeLibrary.TryLoad("libcuda.so.1", out _), "this machine has a CUDA driver: the refusal for machines without one cannot be seen here");
        string run = Path.Combine(_dir.Path, "run");

        (int exit, string output) = AgentProcess.Run(["finetune", "--device", "cuda", "--steps", "2", "--out", run], seconds: 120);

        Assert.Equal(2, exit);
        Assert.Contains("cannot run on cuda:0: no CUDA driver (libcuda.so.1 could not be loaded)", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(run), "a refused run must leave no record directory");
    }

    [Fact]
    public void With_a_driver_but_libtorch_for_the_cpu_the_message_says_where_cuda_libtorch_comes_from()
    {
        string run = Path.Combine(_dir.Path, "run");

        (int exit, string output) = AgentProcess.Run(["finetune", "--device", "cuda:0", "--steps", "2", "--out", run], FakeCuda.Environment(), seconds: 120);

        Assert.Equal(2, exit);
        // Past the driver (it found device 0 and its UUID), stopped at libtorch's CUDA backend.
        Assert.Contains("cannot run on cuda:0: libtorch's CUDA backend did not start (no torch_cuda library on the library path)", output, StringComparison.Ordinal);
        Assert.Contains("-p:TorchFromHost=true", output, StringComparison.Ordinal);
        Assert.Contains("LD_LIBRARY_PATH", output, StringComparison.Ordinal);
        // The loader's trace TorchSharp appends stays out of the message.
        Assert.DoesNotContain("Trace from LoadNativeBackend", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(run), "a refused run must leave no record directory");
    }

    [Theory]
    [InlineData(1, "cuda:1", "the CUDA driver sees 1 device (cuda:0)")]
    [InlineData(3, "cuda:5", "the CUDA driver sees 3 devices (cuda:0 to cuda:2)")]
    [InlineData(0, "cuda", "the CUDA driver sees 0 devices")]
    public void A_device_the_driver_does_not_have_is_named_with_the_ones_it_has(int devices, string device, string expected)
    {
        string run = Path.Combine(_dir.Path, "run");

        (int exit, string output) = AgentProcess.Run(["finetune", "--device", device, "--steps", "2", "--out", run], FakeCuda.Environment(devices), seconds: 120);

        Assert.Equal(2, exit);
        Assert.Contains($"cannot run on {(device == "cuda" ? "cuda:0" : device)}: {expected}", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(run));
    }

    [Theory]
    [InlineData(new[] { "--device", "gpu" }, "invalid device 'gpu': expected cpu, cuda or cuda:N")]
    [InlineData(new[] { "--device", "cuda:x" }, "invalid device 'cuda:x': expected cpu, cuda or cuda:N")]
    [InlineData(new[] { "--device", "cuda", "--exact-cpu-peaks" }, "--exact-cpu-peaks measures the CPU allocator")]
    [InlineData(new[] { "--device", "cuda", "--gradient-checkpointing", "--lora-dropout", "0.1" }, "runs on the CPU only")]
    public void Settings_a_cuda_run_cannot_take_are_usage_errors(string[] args, string expected)
    {
        string run = Path.Combine(_dir.Path, "run");

        // With the fake driver present, so that only the settings can be what refuses the run.
        (int exit, string output) = AgentProcess.Run(["finetune", .. args, "--steps", "2", "--out", run], FakeCuda.Environment(), seconds: 120);

        Assert.Equal(2, exit);
        Assert.Contains(expected, output, StringComparison.Ordinal);
        Assert.DoesNotContain("cannot run on", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(run));
    }
}
