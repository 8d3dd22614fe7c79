using System.Globalization;
using Gputel.Collector.Model;

namespace Gputel.Collector.Collectors;

/// <summary>
/// Host memory and load from <c>/proc</c>, served with or without GPUs so a node without a driver
/// still reports something useful.
/// </summary>
public sealed class HostCollector(string procRoot = "/proc") : IGpuCollector
{
    /// <inheritdoc />
    public string Name => "host";

    /// <inheritdoc />
    public Cadence Cadence => Cadence.Slow;

    /// <inheritdoc />
    public bool HostWide => true;

    /// <inheritdoc />
    public void Collect(GpuDevice? device, CollectorOutput output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        foreach (string line in File.ReadLines(Path.Combine(procRoot, "meminfo")))
        {
            if (TryParseKiB(line, "MemTotal:", out double total))
            {
                output.Readings.Add(new(GpuMetrics.HostMemoryTotal, -1, total));
            }
            else if (TryParseKiB(line, "MemAvailable:", out double available))
            {
                output.Readings.Add(new(GpuMetrics.HostMemoryAvailable, -1, available));
            }
        }

        string load = File.ReadAllText(Path.Combine(procRoot, "loadavg"));
        int space = load.IndexOf(' ', StringComparison.Ordinal);
        if (space > 0 && double.TryParse(load.AsSpan(0, space), NumberStyles.Float, CultureInfo.InvariantCulture, out double load1))
        {
            output.Readings.Add(new(GpuMetrics.HostLoad1, -1, load1));
        }
    }

    /// <summary>Parses a <c>/proc/meminfo</c> line such as <c>MemTotal:  16314464 kB</c> into bytes.</summary>
    internal static bool TryParseKiB(string line, string key, out double bytes)
    {
        bytes = 0;
        if (!line.StartsWith(key, StringComparison.Ordinal))
        {
            return false;
        }

        ReadOnlySpan<char> rest = line.AsSpan(key.Length).Trim();
        if (rest.EndsWith("kB", StringComparison.Ordinal))
        {
            rest = rest[..^2].Trim();
        }

        if (!long.TryParse(rest, NumberStyles.Integer, CultureInfo.InvariantCulture, out long kib))
        {
            return false;
        }

        bytes = kib * 1024.0;
        return true;
    }
}
