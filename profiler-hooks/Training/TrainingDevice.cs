using System.Globalization;
using Gputel.Collector.Nvml;
using Gputel.Core.Records;
using Gputel.Core.Training;
using Gputel.Profiler.Memory;
using TorchSharp;
using static TorchSharp.torch;

namespace Gputel.Profiler.Training;

/// <summary>
/// Where a fine-tune runs, with the allocator figures that measure it: the CPU (glibc's, the
/// accountant's default) or one CUDA device (its default memory pool, and NVML for the process's
/// whole figure). Opening a CUDA device checks everything a run needs before the run record exists,
/// so a machine that cannot run on the GPU is told why and keeps no half-made record.
/// </summary>
internal sealed class TrainingDevice : IDisposable
{
    private readonly CudaMemoryTruth? _truth;
    private readonly NvmlDriver? _nvml;
    private readonly NvmlDevice? _nvmlDevice;
    private readonly int _nvmlIndex;

    private TrainingDevice(Device torchDevice, ComputeDevice name, CudaMemoryTruth? truth, NvmlDriver? nvml, NvmlDevice? nvmlDevice, int nvmlIndex, Dictionary<string, string> facts)
    {
        Torch = torchDevice;
        Name = name;
        _truth = truth;
        _nvml = nvml;
        _nvmlDevice = nvmlDevice;
        _nvmlIndex = nvmlIndex;
        Facts = facts;
    }

    /// <summary>The device tensors are made on.</summary>
    public Device Torch { get; }

    /// <summary>As run.json names it: <c>cpu</c> or <c>cuda:N</c>.</summary>
    public ComputeDevice Name { get; }

    /// <summary>Whether this is a CUDA device.</summary>
    public bool IsCuda => _truth is not null;

    /// <summary>What run.json's runtime section should say of the device (GPU name, UUID, allocator setting).</summary>
    public IReadOnlyDictionary<string, string> Facts { get; }

    /// <summary>The allocator figures for the accountant: null on the CPU, where it reads glibc itself.</summary>
    public IMemoryTruth? Truth => _truth;

    /// <summary>The CPU, with libtorch loaded (<see cref="TorchRuntime.EnsureLoaded(bool, bool)"/>).</summary>
    public static TrainingDevice Cpu(bool exactCpuPeaks)
    {
        TorchRuntime.EnsureLoaded(exactCpuPeaks);
        return new TrainingDevice(CPU, ComputeDevice.Cpu, null, null, null, -1, []);
    }

    /// <summary>
    /// Opens <paramref name="device"/> (<c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>; see <see cref="FineTuneOptions.Device"/>).
    /// </summary>
    /// <exception cref="NotSupportedException">The device cannot run a measured fine-tune here; the message says why and what to do.</exception>
    public static TrainingDevice Open(ComputeDevice device, bool exactCpuPeaks) =>
        device.IsCuda ? OpenCuda(device.CudaOrdinal) : Cpu(exactCpuPeaks);

    private static TrainingDevice OpenCuda(int ordinal)
    {
        // Before libtorch loads: its CUDA library picks the allocator as it loads.
        string allocatorSetting = CudaAllocatorSetting.Ensure();
        if (!CudaMemoryTruth.TryFindDevice(ordinal, out string? uuid, out string? missing))
        {
            throw new NotSupportedException($"cannot run on cuda:{ordinal}: {missing}");
        }

        TorchRuntime.EnsureLoaded(cpuAccounting: false);
        if (!TorchRuntime.TryInitializeCuda(out string? failure))
        {
            throw new NotSupportedException($"cannot run on cuda:{ordinal}: {failure}");
        }

        int count = cuda.device_count();
        if (ordinal >= count)
        {
            throw new NotSupportedException($"cannot run on cuda:{ordinal}: libtorch sees {count} CUDA device{(count == 1 ? "" : "s")} (cuda:0{(count > 1 ? $" to cuda:{count - 1}" : "")})");
        }

        (NvmlDriver? nvml, NvmlDevice? nvmlDevice, int nvmlIndex, string? gpuName) = FindInNvml(uuid!);
        if (CudaMemoryTruth.TryOpen(ordinal, nvmlDevice, out string? reason) is not { } truth)
        {
            nvml?.Dispose();
            throw new NotSupportedException($"cannot run on cuda:{ordinal}: {reason}");
        }

        var device = new TrainingDevice(torch.device(DeviceType.CUDA, ordinal), ComputeDevice.Cuda(ordinal), truth, nvml, nvmlDevice, nvmlIndex, new Dictionary<string, string>
        {
            ["gpu"] = gpuName ?? "unknown (no NVML)",
            ["gpu_uuid"] = uuid!,
            ["cuda_allocator"] = allocatorSetting,
        });
        try
        {
            device.CheckPoolServesLibtorch(allocatorSetting);
        }
        catch
        {
            device.Dispose();
            throw;
        }

        return device;
    }

    /// <summary>
    /// The one way to know libtorch took the setting: a tensor it makes must show in the pool. Where
    /// it does not (libtorch was loaded before the setting, or ignores it), every figure would read
    /// zero, and the run would be a record of nothing. The same tensor checks the storage identity
    /// the categories rest on: LibTorchSharp reads a storage's address and size with accessors
    /// compiled against its own libtorch's headers, which a PyTorch install of another version
    /// could lay out otherwise, and every figure would be wrong without an error.
    /// </summary>
    private void CheckPoolServesLibtorch(string allocatorSetting)
    {
        const long Probe = 8L << 20;
        long before = _truth!.InUse() ?? 0;
        long during;
        using (Tensor probe = empty(Probe, ScalarType.Byte, Torch))
        {
            Synchronize();
            during = _truth.InUse() ?? 0;
            if (StorageIdentityProblem(probe) is { } problem)
            {
                throw new NotSupportedException(
                    $"the loaded libtorch ({TorchRuntime.Loaded()}) does not give LibTorchSharp (built for {TorchRuntime.BuiltFor}) {problem}: "
                    + "its tensor layout differs, and no category could be measured");
            }
        }

        Synchronize();
        if (during - before < Probe)
        {
            throw new NotSupportedException(
                $"libtorch does not allocate from cuda:{Torch.index}'s default memory pool (an {Probe >> 20} MiB tensor moved it by {during - before} bytes), so the run could not be measured. "
                + $"Start gputel with {CudaAllocatorSetting.Variable} and {CudaAllocatorSetting.LegacyVariable} naming {CudaAllocatorSetting.AsyncBackend} (this process had: {(allocatorSetting.Length == 0 ? "nothing" : allocatorSetting)}); "
                + "a libtorch loaded earlier in the process keeps the allocator it chose then");
        }
    }

    /// <summary>
    /// What is wrong with the storage identity read of <paramref name="tensor"/> (one-dimensional,
    /// of bytes, at least 4 long), or null where it is right: a non-null address, the tensor's size,
    /// and the same storage for a view into its middle.
    /// </summary>
    internal static string? StorageIdentityProblem(Tensor tensor)
    {
        long size = tensor.numel();
        using Tensor view = tensor.narrow(0, size / 2, size / 4);
        (IntPtr address, long bytes) = NativeStorage.Of(tensor);
        (IntPtr viewAddress, long viewBytes) = NativeStorage.Of(view);
        return address != IntPtr.Zero && bytes == size && viewAddress == address && viewBytes == size
            ? null
            : string.Create(CultureInfo.InvariantCulture,
                $"the storage of a {size}-byte tensor (read: address 0x{address:x}, {bytes} bytes; for a view of it, 0x{viewAddress:x}, {viewBytes} bytes)");
    }

    /// <summary>Bytes in use where the run's figures are measured from (the accountant's baseline), after pending work.</summary>
    public long InUse()
    {
        Synchronize();
        return _truth is null ? CpuAllocator.InUseBytes() ?? 0 : _truth.InUse() ?? 0;
    }

    /// <summary>
    /// Waits for the device's queued work. A CUDA phase's kernels run after the host has moved on:
    /// without the wait, a phase's time would be its launches', and the memory it frees on the
    /// device's queue would not be back in the pool when the phase's end is read.
    /// </summary>
    public void Synchronize()
    {
        if (_truth is not null)
        {
            cuda.synchronize(Torch);
        }
    }

    /// <summary>
    /// A sample for <c>samples.jsonl</c>: on the CPU, null (the host sampler reads malloc); on a GPU,
    /// the device's used memory and this process's, as NVML reports them, or null without NVML.
    /// </summary>
    public SampleLine? SampleDevice()
    {
        if (_nvmlDevice is not { } device || device.TryGetMemory(out MemoryInfo memory) != NvmlReturn.Success)
        {
            return null;
        }

        return new SampleLine(DateTimeOffset.UtcNow, _nvmlIndex, (long)memory.Used, _truth?.ProcessDevice());
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _truth?.Dispose();
        _nvml?.Dispose();
    }

    /// <summary>The NVML handle of the GPU with <paramref name="uuid"/>, its index and name; nulls where NVML cannot be used.</summary>
    private static (NvmlDriver? Nvml, NvmlDevice? Device, int Index, string? Name) FindInNvml(string uuid)
    {
        NvmlDriver nvml;
        try
        {
            nvml = NvmlDriver.Open();
        }
        catch (NvmlUnavailableException)
        {
            // The pool still measures every category but runtime, which needs the process's figure.
            return (null, null, -1, null);
        }

        int count = nvml.GetDeviceCount();
        for (int i = 0; i < count; i++)
        {
            NvmlDevice device = nvml.GetDevice(i);
            if (device.TryGetUuid(out string found) == NvmlReturn.Success && string.Equals(found, uuid, StringComparison.OrdinalIgnoreCase))
            {
                return (nvml, device, i, device.TryGetName(out string name) == NvmlReturn.Success ? name : null);
            }
        }

        nvml.Dispose();
        return (null, null, -1, null);
    }
}
