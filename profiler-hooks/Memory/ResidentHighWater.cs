using System.Globalization;

namespace Gputel.Profiler.Memory;

/// <summary>
/// The kernel's high-water mark of this process's resident memory (<c>VmHWM</c>), which Linux
/// lets a process reset to its current size by writing <c>5</c> to <c>/proc/self/clear_refs</c>.
/// Large tensors are mmapped by glibc and touched when written, so their growth inside a phase
/// shows in this mark however briefly they live: it catches the millisecond peaks a sampler misses.
/// </summary>
internal static class ResidentHighWater
{
    private static bool _unavailable;

    /// <summary>Resets the mark to the current resident size and returns that size, or null where the kernel does not allow it.</summary>
    public static long? Reset()
    {
        if (_unavailable)
        {
            return null;
        }

        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return Read("VmRSS:");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            _unavailable = true;
            return null;
        }
    }

    /// <summary>The highest resident size since the last <see cref="Reset"/>, or null when unknown.</summary>
    public static long? HighWater() => _unavailable ? null : Read("VmHWM:");

    private static long? Read(string field)
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    // "VmHWM:\t  123456 kB"
                    string number = line[field.Length..].Trim().Split(' ')[0];
                    return long.Parse(number, NumberStyles.Integer, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            _unavailable = true;
        }

        return null;
    }
}
