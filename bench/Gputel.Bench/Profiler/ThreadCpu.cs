using System.Globalization;

namespace Gputel.Bench.Profiler;

/// <summary>CPU time of this process's threads, from <c>/proc/self/task/*/schedstat</c> (nanoseconds on CPU).</summary>
internal static class ThreadCpu
{
    /// <summary>The profiler's peak sampler thread (<c>PeakSampler</c> names its thread so).</summary>
    public const string PeakSamplerName = "gputel-peak";

    /// <summary>Nanoseconds on CPU of the live threads named <paramref name="name"/>, or of all live threads when null.</summary>
    public static long Nanoseconds(string? name = null)
    {
        long total = 0;
        foreach (string task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                if (name is not null && File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') != name)
                {
                    continue;
                }

                string schedstat = File.ReadAllText(Path.Combine(task, "schedstat"));
                total += long.Parse(schedstat.AsSpan(0, schedstat.IndexOf(' ', StringComparison.Ordinal)), NumberStyles.None, CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // The thread ended while being read.
            }
        }

        return total;
    }
}
