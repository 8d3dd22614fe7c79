using System.Runtime.InteropServices;
using Gputel.Core.Model;
using Gputel.Core.Records;
using Gputel.Core.Training;
using Gputel.Profiler.Memory;
using Gputel.Profiler.Records;
using Gputel.Profiler.Training;

namespace Gputel.Profiler.Tests.Training;

/// <summary>What a CUDA fine-tune decides before it touches a GPU: device names, the allocator setting, UUIDs, device samples.</summary>
public sealed partial class CudaSettingsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gputel-cuda-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("cuda", 0)]
    [InlineData("cuda:0", 0)]
    [InlineData("cuda:7", 7)]
    [InlineData("cpu", null)]
    [InlineData("cuda:", null)]
    [InlineData("cuda:-1", null)]
    [InlineData("cuda:+1", null)]
    [InlineData("CUDA", null)]
    [InlineData("cuda:1 ", null)]
    public void Device_names_give_the_cuda_ordinal(string device, int? ordinal) =>
        Assert.Equal(ordinal, ComputeDevice.TryParse(device, out ComputeDevice parsed) && parsed.IsCuda ? parsed.CudaOrdinal : null);

    [Theory]
    [InlineData("cpu", false, false, 0.0, null)]
    [InlineData("cuda:2", false, false, 0.0, null)]
    [InlineData("cuda", false, true, 0.0, null)]
    [InlineData("gpu", false, false, 0.0, "invalid device 'gpu': expected cpu, cuda or cuda:N")]
    [InlineData("cuda", true, false, 0.0, "--exact-cpu-peaks measures the CPU allocator")]
    [InlineData("cuda", false, true, 0.1, "--gradient-checkpointing with --lora-dropout above 0 runs on the CPU only")]
    [InlineData("cpu", false, true, 0.1, null)]
    public void Settings_a_cuda_run_cannot_take_are_refused_before_anything_runs(string device, bool exactCpuPeaks, bool checkpointing, double dropout, string? error)
    {
        // As gputel finetune makes them: the device parsed from its option, then the whole checked.
        void Check() => new FineTuneOptions(ModelShape.Tiny, _dir)
        {
            Device = ComputeDevice.Parse(device),
            ExactCpuPeaks = exactCpuPeaks,
            GradientCheckpointing = checkpointing,
            Lora = new LoraSettings(rank: 8, alpha: 16, dropout: dropout),
        }.Validate();

        if (error is null)
        {
            Check();
        }
        else
        {
            Assert.Contains(error, Assert.Throws<ArgumentException>(Check).Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("backend:cudaMallocAsync", "cudaMallocAsync")]
    [InlineData("expandable_segments:True", null)]
    [InlineData("max_split_size_mb:128, backend:native", "native")]
    [InlineData("backend:native,backend:cudaMallocAsync", "cudaMallocAsync")]
    [InlineData("roundup_power2_divisions:4 backend:cudaMallocAsync", "cudaMallocAsync")]
    [InlineData("backend: cudaMallocAsync", "cudaMallocAsync")]
    public void The_backend_is_read_as_libtorch_reads_it(string? setting, string? backend) =>
        Assert.Equal(backend, CudaAllocatorSetting.Backend(setting));

    [Fact]
    public void A_setting_that_asks_for_another_backend_is_refused_with_its_name()
    {
        var environment = new Dictionary<string, string?> { [CudaAllocatorSetting.LegacyVariable] = "backend:native" };

        var e = Assert.Throws<NotSupportedException>(() => CudaAllocatorSetting.Ensure(n => environment.GetValueOrDefault(n)));

        Assert.Contains("PYTORCH_CUDA_ALLOC_CONF=backend:native", e.Message, StringComparison.Ordinal);
        Assert.Contains("cudaMallocAsync", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_backend_named_in_one_variable_is_added_to_the_other_the_user_set()
    {
        // libtorch 2.9+ reads PYTORCH_ALLOC_CONF first: the backend in the older name alone would be lost.
        var environment = new Dictionary<string, string?>
        {
            [CudaAllocatorSetting.Variable] = "expandable_segments:False",
            [CudaAllocatorSetting.LegacyVariable] = "backend:cudaMallocAsync",
        };

        string described = EnsureAndRestore(environment, out string? set, out _);

        Assert.Equal("PYTORCH_ALLOC_CONF=expandable_segments:False,backend:cudaMallocAsync; PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync", described);
        Assert.Equal("expandable_segments:False,backend:cudaMallocAsync", set);
    }

    [Fact]
    public void A_setting_that_already_names_the_pool_is_kept_as_it_is()
    {
        var environment = new Dictionary<string, string?> { [CudaAllocatorSetting.Variable] = "backend:cudaMallocAsync" };

        Assert.Equal("PYTORCH_ALLOC_CONF=backend:cudaMallocAsync", CudaAllocatorSetting.Ensure(n => environment.GetValueOrDefault(n)));
    }

    [Fact]
    public void The_pool_backend_is_added_to_the_users_options_where_libc_getenv_sees_it()
    {
        // The user's own option stays; the variable they did not set stays unset, so that the one
        // libtorch reads (whichever it is) has their options and the backend together.
        var environment = new Dictionary<string, string?> { [CudaAllocatorSetting.Variable] = "expandable_segments:False" };

        string described = EnsureAndRestore(environment, out string? set, out _);

        Assert.Equal("PYTORCH_ALLOC_CONF=expandable_segments:False,backend:cudaMallocAsync", described);
        Assert.Equal("expandable_segments:False,backend:cudaMallocAsync", set);
    }

    [Fact]
    public void With_neither_variable_set_both_name_the_pool()
    {
        string described = EnsureAndRestore([], out string? set, out string? setLegacy);

        Assert.Equal("PYTORCH_ALLOC_CONF=backend:cudaMallocAsync; PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync", described);
        Assert.Equal(CudaAllocatorSetting.AsyncBackend, set);
        Assert.Equal(CudaAllocatorSetting.AsyncBackend, setLegacy);
    }

    [Fact]
    public void The_storage_identity_check_a_cuda_run_makes_passes_with_the_bundled_libtorch()
    {
        using var tensor = TorchSharp.torch.empty(1 << 20, TorchSharp.torch.ScalarType.Byte);

        Assert.Null(TrainingDevice.StorageIdentityProblem(tensor));
    }

    [Fact]
    public void A_cuda_uuid_is_written_as_nvml_writes_it()
    {
        byte[] bytes = [0x5f, 0x1e, 0xa2, 0x0b, 0x93, 0x44, 0x6c, 0x2d, 0x8e, 0x71, 0x00, 0xff, 0x12, 0x34, 0xab, 0xcd];

        Assert.Equal("GPU-5f1ea20b-9344-6c2d-8e71-00ff1234abcd", CudaMemoryTruth.FormatUuid(bytes));
    }

    [Fact]
    public void A_gpu_runs_samples_add_the_devices_figures_beside_the_hosts()
    {
        var info = new RunInfo("r1", "tiny", "full", "bf16", ComputeDevice.Cuda(0), DateTimeOffset.UnixEpoch, new Dictionary<string, string>(), new Dictionary<string, string>());
        int calls = 0;
        using (var record = new RunRecordWriter(_dir, info))
        using (new HostSampler(record, () => new SampleLine(DateTimeOffset.UtcNow, 3, 1000 + Interlocked.Increment(ref calls), 700)))
        {
        }

        RunRecordReader read = RunRecordReader.Read(_dir);
        SampleLine[] device = [.. read.Samples.Where(s => s.Gpu == 3)];
        // One at the start and one at the end at least, each beside a host sample.
        Assert.True(device.Length >= 2, $"{device.Length} device samples");
        Assert.Equal(device.Length, read.Samples.Count(s => s.Gpu == -1));
        Assert.All(device, s => Assert.Equal(700, s.ProcessUsedBytes));
        Assert.Equal(Enumerable.Range(1001, device.Length).Select(v => (long)v), device.Select(s => s.UsedBytes));
    }

    /// <summary>
    /// Runs <see cref="CudaAllocatorSetting.Ensure"/> over <paramref name="environment"/> (the user's
    /// settings as the process started), gives both variables as libc's getenv then reads them, and
    /// puts this process's environment back as it was.
    /// </summary>
    private static string EnsureAndRestore(Dictionary<string, string?> environment, out string? set, out string? setLegacy)
    {
        string? before = Getenv(CudaAllocatorSetting.Variable), beforeLegacy = Getenv(CudaAllocatorSetting.LegacyVariable);
        try
        {
            string described = CudaAllocatorSetting.Ensure(n => environment.GetValueOrDefault(n));
            (set, setLegacy) = (Getenv(CudaAllocatorSetting.Variable), Getenv(CudaAllocatorSetting.LegacyVariable));
            return described;
        }
        finally
        {
            Restore(CudaAllocatorSetting.Variable, before);
            Restore(CudaAllocatorSetting.LegacyVariable, beforeLegacy);
        }
    }

    private static string? Getenv(string name) => Marshal.PtrToStringUTF8(getenv(name));

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr getenv(string name);

    private static void Restore(string name, string? value) => _ = value is null ? unsetenv(name) : setenv(name, value, 1);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unsetenv(string name);
}
