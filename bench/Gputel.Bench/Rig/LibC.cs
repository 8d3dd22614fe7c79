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

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int setenv(string name, string value, int overwrite);

    [LibraryImport("libc", EntryPoint = "sysconf")]
    private static partial long sysconf(int name);
}
