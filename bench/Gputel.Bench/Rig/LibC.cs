using System.Runtime.InteropServices;

namespace Gputel.Bench.Rig;

/// <summary>The few libc calls .NET has no managed equivalent for.</summary>
internal static partial class LibC
{
    // glibc's value of _SC_CLK_TCK.
    private const int ScClockTicks = 2;

    /// <summary>
    /// Sets a variable in the C environment. Environment.SetEnvironmentVariable only changes .NET's
    /// own copy on Linux, which native getenv (the fake driver's) never sees.
    /// </summary>
    public static void SetEnvironmentVariable(string name, string value)
    {
        if (setenv(name, value, 1) != 0)
        {
            throw new InvalidOperationException($"setenv({name}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Clock ticks per second, the unit of utime and stime in /proc/PID/stat (100 unless sysconf says otherwise).</summary>
    public static int ClockTicksPerSecond()
    {
        long ticks = sysconf(ScClockTicks);
        return ticks > 0 ? (int)ticks : 100;
    }

    /// <summary>
    /// CPU seconds (user + system) of every child process this process has waited for so far
    /// (<c>getrusage(RUSAGE_CHILDREN)</c>): a child's own figures are gone from /proc once it is reaped.
    /// </summary>
    public static double ChildrenCpuSeconds()
    {
        const int RusageChildren = -1;
        Span<long> usage = stackalloc long[18]; // struct rusage: two timevals then 14 longs, on 64-bit Linux
        if (getrusage(RusageChildren, ref usage[0]) != 0)
        {
            throw new InvalidOperationException($"getrusage failed: errno {Marshal.GetLastPInvokeError()}");
        }

        return usage[0] + (usage[1] / 1e6) + usage[2] + (usage[3] / 1e6);
    }

    [LibraryImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static partial int getrusage(int who, ref long usage);

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int setenv(string name, string value, int overwrite);

    [LibraryImport("libc", EntryPoint = "sysconf")]
    private static partial long sysconf(int name);
}
