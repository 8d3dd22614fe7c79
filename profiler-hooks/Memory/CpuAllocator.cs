using System.Runtime.InteropServices;


namespace Gputel.Profiler.Memory;

/// <summary>
/// The truth for CPU runs: libtorch's CPU allocator goes through malloc, so glibc's
/// <c>mallinfo2()</c> in-use bytes (<c>uordblks + hblkhd</c>) track tensor memory to within ~0.1%
/// (33,574,912 bytes of parameters showed as +33,614,272 in malloc). Other code in the process mallocs too, so figures are read against a baseline.
/// </summary>
public static partial class CpuAllocator
{
    /// <summary>Bytes malloc has handed out and not had back, or null where glibc is not the C library.</summary>
    public static long? InUseBytes()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            MallInfo2 info = mallinfo2();
            return (long)(info.uordblks + info.hblkhd);
        }
        catch (EntryPointNotFoundException)
        {
            // musl and glibc before 2.33 have no mallinfo2.
            return null;
        }
    }

    private static readonly object Gate = new();
    private static bool _configured;
    private static bool _glibc;
    private static bool _exactPeaks;
    private static string? _exactPeaksRefused = "glibc has not been set up for the accounting yet";

    /// <summary>
    /// Whether this process's allocator was set up for exact phase peaks
    /// (<see cref="ConfigureForAccounting(bool)"/> with <c>exactPeaks</c>): only then is the kernel's
    /// resident high-water mark a measure of the allocator's own peak.
    /// </summary>
    public static bool ExactPeaks
    {
        get
        {
            lock (Gate)
            {
                return _exactPeaks;
            }
        }
    }

    /// <summary>Why this process's phase peaks are not exact, or null where they are (<see cref="ExactPeaks"/>).</summary>
    public static string? ExactPeaksRefused
    {
        get
        {
            lock (Gate)
            {
                return _exactPeaksRefused;
            }
        }
    }

    /// <summary>
    /// Sets glibc up for the accounting. Call before libtorch starts its threads; the first call
    /// decides, later ones change nothing. Returns false where glibc is absent.
    /// <para>
    /// Always one arena: <c>mallinfo2()</c> sums every arena, walking each one's free chunks under
    /// its lock, so each arena libtorch's worker threads would add makes every read dearer.
    /// </para>
    /// <para>
    /// With <paramref name="exactPeaks"/>, also a fixed mmap threshold of 128 KiB: every block above
    /// it is mapped fresh when allocated and unmapped when freed, so the kernel's resident high-water
    /// mark follows the allocator's own peak, however briefly a tensor lives (glibc's sliding
    /// threshold would serve most blocks from its heap, whose freed pages stay resident: there the
    /// mark overstated one backward pass's peak by 42 MiB). The price is a page fault for every
    /// fresh 4 KiB, every time: 30 % of a step of the benchmark's small model on the CPU
    /// (docs/BENCHMARKS.md). Without it, phase peaks are sampled: the highest of the reads the
    /// accounting takes, a lower bound.
    /// </para>
    /// </summary>
    public static bool ConfigureForAccounting(bool exactPeaks = false)
    {
        lock (Gate)
        {
            if (_configured)
            {
                return _glibc;
            }

            _configured = true;
            _exactPeaksRefused = "this process set glibc up for sampled peaks first (an earlier run, or libtorch loaded before): run in a process of its own";
            if (!OperatingSystem.IsLinux())
            {
                _exactPeaksRefused = "exact CPU peaks need glibc on Linux";
                return false;
            }

            try
            {
                const int MArenaMax = -8, MMmapThreshold = -3;
                _glibc = mallopt(MArenaMax, 1) == 1;
                if (exactPeaks)
                {
                    // The mark first: without it a fixed threshold would cost the training for nothing.
                    bool canReset = ResidentHighWater.CanReset;
                    _exactPeaks = canReset && mallopt(MMmapThreshold, 128 * 1024) == 1;
                    _exactPeaksRefused = _exactPeaks ? null
                        : !canReset ? "the kernel does not let this process reset its resident high-water mark (/proc/self/clear_refs)"
                        : "glibc refused a fixed mmap threshold";
                }

                return _glibc;
            }
            catch (EntryPointNotFoundException)
            {
                // musl and other C libraries: no mallopt, no mallinfo2.
                _exactPeaksRefused = "exact CPU peaks need glibc on Linux";
                return false;
            }
        }
    }

    /// <summary>
    /// For the benchmark's "off" steps in exact-peak mode: glibc's thresholds as its sliding
    /// adjustment settles them over a run (mmap 32 MiB, its ceiling on 64-bit; trim twice that), or
    /// back to the exact-peak set-up's (mmap 128 KiB, trim at glibc's default 128 KiB).
    /// </summary>
    internal static bool UseSettledGlibcThresholds(bool settled)
    {
        const int MTrimThreshold = -1, MMmapThreshold = -3;
        return OperatingSystem.IsLinux()
            && mallopt(MMmapThreshold, settled ? 32 << 20 : 128 << 10) == 1
            && mallopt(MTrimThreshold, settled ? 64 << 20 : 128 << 10) == 1;
    }

    [LibraryImport("libc")]
    private static partial int mallopt(int param, int value);

    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint arena;
        public nuint ordblks;
        public nuint smblks;
        public nuint hblks;
        public nuint hblkhd;
        public nuint usmblks;
        public nuint fsmblks;
        public nuint uordblks;
        public nuint fordblks;
        public nuint keepcost;
    }

    [LibraryImport("libc", EntryPoint = "mallinfo2")]
    private static partial MallInfo2 mallinfo2();
}
