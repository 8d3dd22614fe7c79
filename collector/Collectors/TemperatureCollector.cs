using Gputel.Collector.Model;
using Gputel.Collector.Nvml;

namespace Gputel.Collector.Collectors;

/// <summary>GPU die and device memory temperature.</summary>
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
        if (NvmlResult.Ok(device.Handle.TryGetTemperature(out uint celsius), "nvmlDeviceGetTemperature", output))
        {
            output.Readings.Add(new(GpuMetrics.Temperature, device.Slot, celsius));
        }

        // HBM temperature has no dedicated query; it is field NVML_FI_DEV_MEMORY_TEMP.
        if (NvmlResult.Ok(device.Handle.TryGetField(NvmlConstants.FieldMemoryTemperature, 0, out double memory), "nvmlDeviceGetFieldValues(memory temperature)", output))
        {
            output.Readings.Add(new(GpuMetrics.MemoryTemperature, device.Slot, memory));
        }
    }
}
