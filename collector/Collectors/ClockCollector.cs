using Gputel.Collector.Model;
using Gputel.Collector.Nvml;

namespace Gputel.Collector.Collectors;

/// <summary>Current graphics, SM, memory and video clocks, in hertz.</summary>
public sealed class ClockCollector : IGpuCollector
{
    private static readonly (ClockType Type, MetricDescriptor Metric, string Reading)[] Domains =
    [
        (ClockType.Graphics, GpuMetrics.ClockGraphics, "nvmlDeviceGetClockInfo(graphics)"),
        (ClockType.Sm, GpuMetrics.ClockSm, "nvmlDeviceGetClockInfo(sm)"),
        (ClockType.Memory, GpuMetrics.ClockMemory, "nvmlDeviceGetClockInfo(mem)"),
        (ClockType.Video, GpuMetrics.ClockVideo, "nvmlDeviceGetClockInfo(video)"),
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
        foreach ((ClockType type, MetricDescriptor metric, string reading) in Domains)
        {
            if (NvmlResult.Ok(device.Handle.TryGetClock(type, out uint megahertz), reading, output))
            {
                output.Readings.Add(new(metric, device.Slot, megahertz * 1e6));
            }
        }
    }
}
