using Gputel.Core.Training;


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

    /// <summary>
    /// Starts measuring the high-water mark of the phase named <paramref name="phase"/> (a truth may
    /// spend less on phases whose peaks it sees otherwise). <paramref name="topIsProbed"/> says that
    /// the loop marked this phase's top itself last time (where its temporaries begin, then
    /// <see cref="SamplePeak"/> at the moment the optimizer holds every one of them), so a truth may
    /// skip its own, costlier ways of finding the peak there. <paramref name="inUseNow"/>, where
    /// given, is the in-use figure the last phase ended at, which the caller vouches is still the
    /// figure now (nothing allocated in between): a truth may take it as the phase's start instead
    /// of reading its allocator again.
    /// </summary>
    void BeginPhase(Phase phase, bool topIsProbed = false, long? inUseNow = null);

    /// <summary>The highest in-use figure since <see cref="BeginPhase"/>, or null when unknown.</summary>
    long? EndPhasePeak();

    /// <summary>
    /// Reads the in-use figure now into the phase's high-water mark: for moments known to be a
    /// peak (an optimizer holding every temporary just before it frees them) that a sampling
    /// truth could miss between samples. Returns the figure read. Truths with a real high-water
    /// mark need no sample and just read the figure.
    /// </summary>
    long? SamplePeak() => InUse();

    /// <summary>In-use bytes when the current phase began (a truth may have read them then).</summary>
    long? InUseAtPhaseStart() => InUse();

    /// <summary>In-use bytes when the phase's peak was last read, right after <see cref="EndPhasePeak"/>.</summary>
    long? InUseAtPhaseEnd() => InUse();
}

/// <summary>
/// The CPU truth: glibc's in-use bytes. The phase peak is the highest of the reads at the phase's
/// ends, the reads the loop offers at known peaks (<see cref="SamplePeak"/>) and a 10 ms sampler
/// thread. Where the process's allocator is set up for exact peaks
/// (<see cref="CpuAllocator.ExactPeaks"/>), also the kernel's resident high-water mark (forward,
/// backward, and an optimizer step whose top the loop did not mark last time): the growth of
/// resident memory inside the phase, added to the in-use figure at its start, catches tensors that
/// live for less than a sample interval, since every large block is then mapped fresh.
/// </summary>
public sealed class CpuMemoryTruth : IMemoryTruth
{
    private readonly ResidentHighWater? _resident;
    private readonly PeakSampler _peak;
    private long? _startResident;
    private long _startInUse;
    private long _endInUse;

    /// <summary>Reads glibc, with the peak sources the process's allocator set-up allows (<see cref="CpuAllocator.ExactPeaks"/>).</summary>
    public CpuMemoryTruth()
        : this(CpuAllocator.ExactPeaks)
    {
    }

    /// <summary>
    /// Reads glibc. With <paramref name="exactPeaks"/>, both peak sources: the resident high-water
    /// mark sees large tensors that get fresh pages however briefly they live; the sampler sees peaks
    /// built from memory glibc reuses (most of a steady training step), which leave the resident
    /// size unchanged. Without the sampler a LoRA step with checkpointing measured a 50 MiB peak
    /// instead of 59. Without <paramref name="exactPeaks"/> glibc serves large blocks from a heap
    /// whose freed pages stay resident, and the mark would overstate the peak: the sampler and the
    /// reads alone give it, a lower bound.
    /// </summary>
    internal CpuMemoryTruth(bool exactPeaks)
    {
        _resident = exactPeaks ? new ResidentHighWater() : null;
        if (_resident is { Available: false })
        {
            // A sandbox that forbids resetting the mark: the sampler covers every phase instead.
            _resident.Dispose();
            _resident = null;
        }

        _peak = new PeakSampler(CpuAllocator.InUseBytes);
    }

    /// <summary>Whether phase peaks include the resident high-water mark (else they are sampled).</summary>
    public bool ExactPeaks => _resident is not null;

    /// <inheritdoc />
    public long? InUse() => CpuAllocator.InUseBytes();

    /// <inheritdoc />
    public long? Reserved() => null;

    /// <inheritdoc />
    public long? ProcessDevice() => null;

    /// <summary>
    /// Starts a phase. With exact peaks, the sampler thread runs only in the forward pass (and in
    /// phases of other names), where peaks are built from memory glibc reuses: across the estimator's
    /// accuracy runs (12 configurations, 84 steps) it read up to 20.4 MiB (5.7% of the peak) above
    /// the resident mark and the phase's end in forward, but at most 0.88 MiB (0.24%) in backward,
    /// the longest phase, whose large gradients and recomputed activations take fresh pages the
    /// resident mark sees (up to 31.8 MiB above the other figures there). The optimizer's
    /// temporaries are parameter-sized, so glibc mmaps them and the resident mark sees them.
    /// zero_grad only frees, so its peak is its start and it needs neither the sampler nor the
    /// resident mark. With sampled peaks, the sampler runs in every phase but zero_grad and an
    /// optimizer step whose top the loop marks.
    /// <para>
    /// Where the loop marks the optimizer step's top itself (<paramref name="topIsProbed"/>), the
    /// resident mark is skipped: in the accuracy runs it never rose above that marked top (by
    /// 0.01 MiB at most), so its reset (a write to <c>clear_refs</c>, with a read of <c>statm</c>
    /// until the process has grown past any inherited mark) buys nothing there. A read the loop
    /// offers in the forward pass (when the loss is computed) does not replace the sampler there: in
    /// one of those configurations the sampler found, elsewhere in the pass, a peak 19 MiB above that
    /// read, while the read found the loss's own up to 3.7 MiB above what the sampler caught.
    /// </para>
    /// <para>
    /// A start given as <paramref name="inUseNow"/> spares a <c>mallinfo2</c> read (2-8 µs on the
    /// benchmark machine, a walk of malloc's free chunks under its lock).
    /// </para>
    /// </summary>
    public void BeginPhase(Phase phase, bool topIsProbed = false, long? inUseNow = null)
    {
        bool needsTop = phase != Phase.ZeroGrad && !(topIsProbed && phase == Phase.OptimizerStep);
        _startResident = needsTop ? _resident?.Reset() : null;
        bool background = _resident is null ? needsTop : phase == Phase.Forward;
        _startInUse = _peak.Start(background, inUseNow);
    }

    /// <inheritdoc />
    public long? InUseAtPhaseStart() => _startInUse;

    /// <inheritdoc />
    public long? InUseAtPhaseEnd() => _endInUse;

    /// <inheritdoc />
    public long? EndPhasePeak()
    {
        (long sampled, _endInUse) = _peak.Stop();
        if (_startResident is { } start && _resident?.HighWater() is { } high)
        {
            return Math.Max(sampled, _startInUse + Math.Max(0, high - start));
        }

        return sampled;
    }

    /// <inheritdoc />
    public long? SamplePeak() => _peak.SampleNow();

    /// <inheritdoc />
    public void Dispose()
    {
        _peak.Dispose();
        _resident?.Dispose();
    }
}
