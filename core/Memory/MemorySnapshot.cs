using Gputel.Core.Training;

namespace Gputel.Core.Memory;

/// <summary>
/// Memory by category at the end of one phase of one step, and the peak inside the phase. Leaving
/// out <see cref="MemoryCategory.Temporary"/> (freed by the phase's end), the categories add up to
/// <see cref="AllocatorBytes"/> plus, on a GPU, the allocator's cache and the device's runtime share
/// (so to NVML's figure for the process): what the accounting cannot name is
/// <see cref="MemoryCategory.Unattributed"/>, which may be negative when the allocator reports less
/// than the tensors hold (never hidden either way).
/// </summary>
/// <param name="Step">Training step, from 0.</param>
/// <param name="Phase">The phase.</param>
/// <param name="Bytes">Bytes per category at the end of the phase (indexed by <see cref="MemoryCategory"/>).</param>
/// <param name="AllocatorBytes">The allocator's in-use bytes at the end of the phase, above the baseline.</param>
/// <param name="PeakBytes">The highest allocator in-use bytes seen inside the phase, above the baseline.</param>
/// <param name="Seconds">How long the phase took.</param>
public sealed record MemorySnapshot(int Step, Phase Phase, long[] Bytes, long AllocatorBytes, long PeakBytes, double Seconds)
{
    /// <summary>Bytes of one category.</summary>
    public long this[MemoryCategory category] => Bytes[(int)category];

    /// <summary>
    /// Temporary memory as shown at a phase's peak: at least the peak above the figure the peak is
    /// shown on (<paramref name="allocatorBytes"/>: the phase's end, or its start, see
    /// <see cref="BytesAtPeak"/>), so the categories add up to the peak. The recorded temporary is
    /// part of that difference, so it is never added to it.
    /// </summary>
    internal static long TemporaryAtPeak(long recordedTemporary, long peakBytes, long allocatorBytes) =>
        Math.Max(recordedTemporary, peakBytes - allocatorBytes);

    /// <summary>
    /// Whether a phase's peak is shown on its start rather than on its end: it began where the phase
    /// before it (<paramref name="beforeStep"/>, <paramref name="beforeAllocatorBytes"/>) ended and
    /// ended lower than that. Backward starts with every activation alive and frees them as it goes,
    /// so its peak stands on its start: shown on its end, the activations it held at the peak would
    /// pass for temporaries, and the gradients it made by its end for memory held at the peak.
    /// </summary>
    internal static bool PeakStandsOnStart(int step, Phase phase, long allocatorBytes, int beforeStep, long beforeAllocatorBytes) =>
        beforeStep == step && phase.BeginsWhereLastEnded && beforeAllocatorBytes > allocatorBytes;

    /// <summary>
    /// Bytes per category at the phase's peak (indexed by <see cref="MemoryCategory"/>), adding up to
    /// <see cref="PeakBytes"/> (on a GPU, plus the allocator's cache and the runtime): the categories
    /// of the higher of the phase's two ends, and temporary as the peak above that end. The start is
    /// known where the phase began where <paramref name="before"/>, the phase recorded just before it,
    /// ended (<see cref="PeakStandsOnStart"/>); otherwise, or with no <paramref name="before"/>, the
    /// phase's own end is used. Temporary, as the category table defines it (MemoryCategories), is
    /// the peak above the phase's start; on the end it is at least the peak above the end
    /// (<see cref="TemporaryAtPeak"/>).
    /// </summary>
    public long[] BytesAtPeak(MemorySnapshot? before)
    {
        int temporary = (int)MemoryCategory.Temporary;
        if (before is not null && PeakStandsOnStart(Step, Phase, AllocatorBytes, before.Step, before.AllocatorBytes))
        {
            long[] atStart = (long[])before.Bytes.Clone();
            atStart[temporary] = TemporaryAtPeak(Bytes[temporary], PeakBytes, before.AllocatorBytes);
            return atStart;
        }

        long[] atEnd = (long[])Bytes.Clone();
        atEnd[temporary] = TemporaryAtPeak(Bytes[temporary], PeakBytes, AllocatorBytes);
        return atEnd;
    }
}
