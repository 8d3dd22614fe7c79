using Gputel.Collector.Model;

namespace Gputel.Collector.Collectors;

/// <summary>Clock event (throttle) reasons: one 0/1 series per reason, and the raw mask for the dcgm profile.</summary>
public sealed class ThrottleCollector : IGpuCollector
{
    /// <inheritdoc />
    public string Name => "throttle";

    /// <inheritdoc />
    public Cadence Cadence => Cadence.Slow;

    /// <inheritdoc />
    public bool HostWide => false;

    /// <inheritdoc />
    public void Collect(GpuDevice? device, CollectorOutput output)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(output);
        if (!NvmlResult.Ok(device.Handle.TryGetThrottleReasons(out ulong mask), "nvmlDeviceGetCurrentClocksEventReasons", output))
        {
            return;
        }

        output.Readings.Add(new(GpuMetrics.ThrottleMask, device.Slot, mask));
        foreach ((ulong bit, MetricDescriptor metric) in GpuMetrics.ThrottleReasons)
        {
            output.Readings.Add(new(metric, device.Slot, (mask & bit) != 0 ? 1 : 0));
        }
    }
}
