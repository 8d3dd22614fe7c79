using Gputel.Collector.Model;
using Gputel.Collector.Nvml;

namespace Gputel.Collector.Collectors;

/// <summary>Current graphics, SM, memory and video clocks, in hertz.</summary>
public sealed class ClockCollector : IGpuCollector
{
    private static readonly (ClockType Type, MetricDescriptor Metric)[] Domains =
    [
        (ClockType.Graphics, GpuMetrics.ClockGraphics),
        (ClockType.Sm, GpuMetrics.ClockSm),
        (ClockType.Memory, GpuMetrics.ClockMemory),
        (ClockType.Video, GpuMetrics.ClockVideo),
    ];

    /// <inheritdoc />
    public string Name => "clocks";

    /// <inheritdoc />
    public Cadence Cadence => Cadence.Slow;

    /// <inheritdoc />
    public bool HostWide => false;

    /// <inheritdoc />
    public void Collect(GpuDevice? device, CollectorOutput output)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(output);
        foreach ((ClockType type, MetricDescriptor metric) in Domains)
        {
            if (NvmlResult.Ok(device.Handle.TryGetClock(type, out uint megahertz), "nvmlDeviceGetClockInfo"))
            {
                output.Readings.Add(new(metric, device.Slot, megahertz * 1e6));
            }
        }
    }
}
