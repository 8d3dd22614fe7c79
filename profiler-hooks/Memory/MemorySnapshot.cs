namespace Gputel.Profiler.Memory;

/// <summary>
/// Memory by category at the end of one phase of one step, and the peak inside the phase. Leaving
/// out <see cref="MemoryCategory.Temporary"/> (freed by the phase's end), the categories add up to
/// <see cref="AllocatorBytes"/> plus, on a GPU, the allocator's cache and the device's runtime share
/// (so to NVML's figure for the process): what the accounting cannot name is
/// <see cref="MemoryCategory.Unattributed"/>, which may be negative when the allocator reports less
/// than the tensors hold (never hidden either way).
/// </summary>
/// <param name="Step">Training step, from 0.</param>
/// <param name="Phase">Phase name: <c>forward</c>, <c>backward</c>, <c>optimizer_step</c>, <c>zero_grad</c>.</param>
/// <param name="Bytes">Bytes per category at the end of the phase (indexed by <see cref="MemoryCategory"/>).</param>
/// <param name="AllocatorBytes">The allocator's in-use bytes at the end of the phase, above the baseline.</param>
/// <param name="PeakBytes">The highest allocator in-use bytes seen inside the phase, above the baseline.</param>
/// <param name="Seconds">How long the phase took.</param>
public sealed record MemorySnapshot(int Step, string Phase, long[] Bytes, long AllocatorBytes, long PeakBytes, double Seconds)
{
    /// <summary>Bytes of one category.</summary>
    public long this[MemoryCategory category] => Bytes[(int)category];

    /// <summary>
    /// Temporary memory as shown at a phase's peak: at least the peak above the phase's end. A phase
    /// that ends lower than it started (backward frees the activations) records its temporaries above
    /// its start, so the end-of-phase categories plus them would stop short of the peak; shown this
    /// way, the categories add up to the peak. The recorded temporary is part of that difference, so
    /// it is never added to it.
    /// </summary>
    internal static long TemporaryAtPeak(long recordedTemporary, long peakBytes, long allocatorBytes) =>
        Math.Max(recordedTemporary, peakBytes - allocatorBytes);
}
