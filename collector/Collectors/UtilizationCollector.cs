using Gputel.Collector.Model;

namespace Gputel.Collector.Collectors;

/// <summary>GPU and memory-controller utilisation, as ratios.</summary>
public sealed class UtilizationCollector : IGpuCollector
{
    /// <inheritdoc />
    public string Name => "utilization";

    /// <inheritdoc />
    public Cadence Cadence => Cadence.Slow;

    /// <inheritdoc />
    public bool HostWide => false;

    /// <inheritdoc />
    public void Collect(GpuDevice? device, CollectorOutput output)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(output);
        if (NvmlResult.Ok(device.Handle.TryGetUtilization(out uint gpu, out uint memory), "nvmlDeviceGetUtilizationRates"))
        {
            output.Readings.Add(new(GpuMetrics.Utilization, device.Slot, gpu / 100.0));
            output.Readings.Add(new(GpuMetrics.MemoryUtilization, device.Slot, memory / 100.0));
        }
    }
}
