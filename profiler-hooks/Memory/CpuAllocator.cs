using System.Runtime.InteropServices;

namespace Gputel.Profiler.Memory;

/// <summary>
/// The truth for CPU runs: libtorch's CPU allocator goes through malloc, so glibc's
/// <c>mallinfo2()</c> in-use bytes (<c>uordblks + hblkhd</c>) track tensor memory to within ~0.1%
/// (PLATFORM.md). Other code in the process mallocs too, so figures are read against a baseline.
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

    private static int _configured;

    /// <summary>
    /// Makes <c>mallinfo2()</c> see every allocation: it reports the main arena and mmapped chunks
    /// only, so memory that other threads (autograd, OpenMP workers) take from their own arenas
    /// would be invisible, and glibc's sliding mmap threshold would move tensors between the two
    /// over a run. One arena and a fixed threshold keep the figure complete and steady. Call before
    /// libtorch starts its threads; later calls do nothing. Returns false where glibc is absent.
    /// </summary>
    public static bool ConfigureForAccounting()
    {
        if (!OperatingSystem.IsLinux() || Interlocked.Exchange(ref _configured, 1) == 1)
        {
            return Volatile.Read(ref _configured) == 1 && OperatingSystem.IsLinux();
        }

        try
        {
            const int MArenaMax = -8, MMmapThreshold = -3;
            return mallopt(MArenaMax, 1) == 1 && mallopt(MMmapThreshold, 128 * 1024) == 1;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
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
