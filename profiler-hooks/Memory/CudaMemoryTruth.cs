using System.Runtime.InteropServices;
using Gputel.Collector.Nvml;
using Gputel.Core.Training;

namespace Gputel.Profiler.Memory;

/// <summary>
/// The GPU truth. With <c>PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync</c> libtorch allocates
/// from the device's default memory pool, whose used and reserved figures and high marks the CUDA
/// driver API reports (TorchSharp exposes no allocator statistics). NVML's figure for this process
/// adds what no allocator reports: the CUDA context and library workspaces (the runtime category).
/// </summary>
public sealed partial class CudaMemoryTruth : IMemoryTruth
{
    // CUmemPool_attribute values (cuda.h).
    private const int ReservedMemCurrent = 5;
    private const int ReservedMemHigh = 6;
    private const int UsedMemCurrent = 7;
    private const int UsedMemHigh = 8;

    private readonly IntPtr _pool;
    private readonly NvmlDevice? _nvmlDevice;

    private CudaMemoryTruth(IntPtr pool, NvmlDevice? nvmlDevice)
    {
        _pool = pool;
        _nvmlDevice = nvmlDevice;
    }

    /// <summary>
    /// Opens the default memory pool of CUDA device <paramref name="ordinal"/>. Returns null with a
    /// one-line reason where there is no CUDA driver or device. NVML is optional: without it the
    /// runtime category stays unknown.
    /// </summary>
    public static CudaMemoryTruth? TryOpen(int ordinal, NvmlDevice? nvmlDevice, out string? reason)
    {
        if (!TryStart(ordinal, out int device, out reason))
        {
            return null;
        }

        if (cuDeviceGetDefaultMemPool(out IntPtr pool, device) is var rc and not 0)
        {
            reason = $"CUDA device {ordinal} has no usable default memory pool (CUresult {rc})";
            return null;
        }

        return new CudaMemoryTruth(pool, nvmlDevice);
    }

    /// <summary>
    /// Finds CUDA device <paramref name="ordinal"/> through the driver and gives its UUID as NVML and
    /// nvidia-smi write it (<c>GPU-</c> and 32 hex digits in groups of 8-4-4-4-12), which finds its
    /// NVML handle whatever <c>CUDA_VISIBLE_DEVICES</c> renumbered. Returns false with a one-line
    /// reason where there is no driver, it does not start, or it has no such device.
    /// </summary>
    public static bool TryFindDevice(int ordinal, out string? uuid, out string? reason)
    {
        uuid = null;
        if (!TryStart(ordinal, out int device, out reason))
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[16];
        if (cuDeviceGetUuid_v2(ref MemoryMarshal.GetReference(bytes), device) != 0)
        {
            reason = $"the CUDA driver gives no UUID for device {ordinal}";
            return false;
        }

        uuid = FormatUuid(bytes);
        return true;
    }

    /// <summary>Loads and starts the driver and finds device <paramref name="ordinal"/>; false with a one-line reason where any of it fails.</summary>
    private static bool TryStart(int ordinal, out int device, out string? reason)
    {
        device = 0;
        if (!NativeLibrary.TryLoad("libcuda.so.1", out _))
        {
            reason = "no CUDA driver (libcuda.so.1 could not be loaded)";
            return false;
        }

        if (cuInit(0) is var rc and not 0)
        {
            reason = $"the CUDA driver did not start (CUresult {rc}; 100 is no device visible to this process, 35 and 803 a driver older than its libraries)";
            return false;
        }

        if (cuDeviceGetCount(out int count) != 0 || ordinal >= count || cuDeviceGet(out device, ordinal) != 0)
        {
            reason = $"the CUDA driver sees {count} device{(count == 1 ? "" : "s")}{(count > 0 ? $" (cuda:0{(count > 1 ? $" to cuda:{count - 1}" : "")})" : "")}";
            return false;
        }

        reason = null;
        return true;
    }

    /// <summary>Writes a CUDA <c>CUuuid</c>'s 16 bytes as NVML writes a GPU's UUID.</summary>
    internal static string FormatUuid(ReadOnlySpan<byte> bytes)
    {
        string hex = Convert.ToHexStringLower(bytes);
        return $"GPU-{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..]}";
    }

    /// <inheritdoc />
    public long? InUse() => Read(UsedMemCurrent);

    /// <inheritdoc />
    public long? Reserved() => Read(ReservedMemCurrent);

    /// <inheritdoc />
    public long? ProcessDevice()
    {
        if (_nvmlDevice is not { } device)
        {
            return null;
        }

        var processes = new List<GpuProcessInfo>();
        if (device.TryGetProcesses(graphics: false, processes) != NvmlReturn.Success)
        {
            return null;
        }

        // NVML names processes by the host's process ids: inside a container with a PID namespace of
        // its own, this process's id is not among them. There, a device that lists one compute
        // process lists this one (it holds a context on the device); with more, it cannot be told.
        GpuProcessInfo? self = processes.Any(p => p.Pid == Environment.ProcessId)
            ? processes.First(p => p.Pid == Environment.ProcessId)
            : processes.Count == 1 ? processes[0] : null;
        return self?.UsedBytes is { } used ? (long)used : null;
    }

    /// <summary>Starts a phase: the pool keeps exact high marks, so every phase is measured alike and no start figure is needed.</summary>
    public void BeginPhase(Phase phase, bool topIsProbed = false, long? inUseNow = null)
    {
        // The pool's high marks can only be reset by setting them to zero.
        ulong zero = 0;
        cuMemPoolSetAttribute(_pool, UsedMemHigh, ref zero);
        cuMemPoolSetAttribute(_pool, ReservedMemHigh, ref zero);
    }

    /// <inheritdoc />
    public long? EndPhasePeak() => Read(UsedMemHigh);

    /// <inheritdoc />
    public void Dispose()
    {
        // The default pool belongs to the device; nothing to free.
    }

    private long? Read(int attribute) => cuMemPoolGetAttribute(_pool, attribute, out ulong value) == 0 ? (long)value : null;

    [LibraryImport("libcuda.so.1")]
    private static partial int cuInit(uint flags);

    [LibraryImport("libcuda.so.1")]
    private static partial int cuDeviceGet(out int device, int ordinal);

    [LibraryImport("libcuda.so.1")]
    private static partial int cuDeviceGetCount(out int count);

    [LibraryImport("libcuda.so.1")]
    private static partial int cuDeviceGetUuid_v2(ref byte uuid, int device);

    [LibraryImport("libcuda.so.1")]
    private static partial int cuDeviceGetDefaultMemPool(out IntPtr pool, int device);

    [LibraryImport("libcuda.so.1")]
    private static partial int cuMemPoolGetAttribute(IntPtr pool, int attribute, out ulong value);

    [LibraryImport("libcuda.so.1")]
    private static partial int cuMemPoolSetAttribute(IntPtr pool, int attribute, ref ulong value);
}
