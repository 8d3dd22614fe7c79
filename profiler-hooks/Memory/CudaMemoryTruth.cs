using System.Runtime.InteropServices;
using Gputel.Collector.Nvml;

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
        if (!NativeLibrary.TryLoad("libcuda.so.1", out _))
        {
            reason = "no CUDA driver (libcuda.so.1 could not be loaded)";
            return null;
        }

        int rc = cuInit(0);
        int device = 0;
        IntPtr pool = IntPtr.Zero;
        if (rc == 0)
        {
            rc = cuDeviceGet(out device, ordinal);
        }

        if (rc == 0)
        {
            rc = cuDeviceGetDefaultMemPool(out pool, device);
        }

        if (rc != 0)
        {
            reason = $"CUDA device {ordinal} has no usable default memory pool (CUresult {rc})";
            return null;
        }

        reason = null;
        return new CudaMemoryTruth(pool, nvmlDevice);
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

        GpuProcessInfo? self = processes.FirstOrDefault(p => p.Pid == Environment.ProcessId);
        return self?.UsedBytes is { } used ? (long)used : null;
    }

    /// <summary>Starts a phase: the pool keeps exact high marks, so every phase is measured alike and no start figure is needed.</summary>
    public void BeginPhase(string phase, bool topIsProbed = false, long? inUseNow = null)
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
    private static partial int cuDeviceGetDefaultMemPool(out IntPtr pool, int device);

    [LibraryImport("libcuda.so.1")]
    private static partial int cuMemPoolGetAttribute(IntPtr pool, int attribute, out ulong value);

    [LibraryImport("libcuda.so.1")]
    private static partial int cuMemPoolSetAttribute(IntPtr pool, int attribute, ref ulong value);
}
