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
