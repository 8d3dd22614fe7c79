namespace Gputel.Profiler.Memory;

/// <summary>
/// What the allocator (and, on a GPU, the device) says about memory: the totals the categories are
/// reconciled with. <see cref="CpuMemoryTruth"/> reads glibc; <see cref="CudaMemoryTruth"/> reads the
/// CUDA default memory pool and NVML.
/// </summary>
public interface IMemoryTruth : IDisposable
{
    /// <summary>Bytes in use by the allocator now, or null when unknown.</summary>
    long? InUse();

    /// <summary>Bytes the allocator holds from the system (in use plus cached), or null where it keeps no cache.</summary>
    long? Reserved();

    /// <summary>Bytes the device reports for this process (NVML), or null on the CPU.</summary>
    long? ProcessDevice();

    /// <summary>Starts measuring a phase's high-water mark.</summary>
    void BeginPhase();

    /// <summary>The highest in-use figure since <see cref="BeginPhase"/>, or null when unknown.</summary>
    long? EndPhasePeak();

    /// <summary>
    /// Reads the in-use figure now into the phase's high-water mark: for moments known to be a
    /// peak (an optimizer holding every temporary just before it frees them) that a sampling
    /// truth could miss between samples. Truths with a real high-water mark ignore it.
    /// </summary>
    void SamplePeak()
    {
    }
}

/// <summary>
/// The CPU truth: glibc's in-use bytes. The phase peak is the higher of a 10 ms sampler and the
/// kernel's resident high-water mark: the growth of resident memory inside the phase, added to the
/// in-use figure at its start, catches tensors that live for less than a sample interval (glibc
/// mmaps large blocks and the kernel counts them when touched).
/// </summary>
public sealed class CpuMemoryTruth : IMemoryTruth
{
    private readonly PeakSampler _peak = new(CpuAllocator.InUseBytes);
    private long? _startResident;
    private long _startInUse;

    /// <inheritdoc />
    public long? InUse() => CpuAllocator.InUseBytes();

    /// <inheritdoc />
    public long? Reserved() => null;

    /// <inheritdoc />
    public long? ProcessDevice() => null;

    /// <inheritdoc />
    public void BeginPhase()
    {
        _startResident = ResidentHighWater.Reset();
        _startInUse = CpuAllocator.InUseBytes() ?? 0;
        _peak.Start();
    }

    /// <inheritdoc />
    public long? EndPhasePeak()
    {
        long sampled = _peak.Stop();
        if (_startResident is { } start && ResidentHighWater.HighWater() is { } high)
        {
            return Math.Max(sampled, _startInUse + Math.Max(0, high - start));
        }

        return sampled;
    }

    /// <inheritdoc />
    public void SamplePeak() => _peak.SampleNow();

    /// <inheritdoc />
    public void Dispose() => _peak.Dispose();
}
