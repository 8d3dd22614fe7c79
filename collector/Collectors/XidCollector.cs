using System.Globalization;
using Gputel.Collector.Model;

namespace Gputel.Collector.Collectors;

/// <summary>Xid errors counted by the <see cref="XidWatcher"/>, by code, and the last code seen.</summary>
public sealed class XidCollector(XidWatcher? watcher) : IGpuCollector
{
    /// <inheritdoc />
    public string Name => "xid";

    /// <inheritdoc />
    public Cadence Cadence => Cadence.Slow;

    /// <inheritdoc />
    public bool HostWide => false;

    /// <inheritdoc />
    public void Collect(GpuDevice? device, CollectorOutput output)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(output);
        if (watcher is null || !watcher.IsWatched(device))
        {
            return;
        }

        foreach ((ulong xid, long count) in watcher.Counts(device.Slot))
        {
            output.Readings.Add(new(GpuMetrics.XidCount, device.Slot, count, xid.ToString(CultureInfo.InvariantCulture)));
        }

        // dcgm-exporter reports 0 until the first Xid; do the same so dashboards have a series.
        output.Readings.Add(new(GpuMetrics.XidLast, device.Slot, watcher.Last(device.Slot) ?? 0));
    }
}
