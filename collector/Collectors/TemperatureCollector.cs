using Gputel.Collector.Model;

namespace Gputel.Collector.Collectors;

/// <summary>GPU die temperature.</summary>
public sealed class TemperatureCollector : IGpuCollector
{
    /// <inheritdoc />
    public string Name => "temperature";

    /// <inheritdoc />
    public Cadence Cadence => Cadence.Slow;

    /// <inheritdoc />
    public bool HostWide => false;

    /// <inheritdoc />
    public void Collect(GpuDevice? device, CollectorOutput output)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(output);
        if (NvmlResult.Ok(device.Handle.TryGetTemperature(out uint celsius), "nvmlDeviceGetTemperature"))
        {
            output.Readings.Add(new(GpuMetrics.Temperature, device.Slot, celsius));
        }
    }
}
