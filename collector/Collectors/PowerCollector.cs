using Gputel.Collector.Model;

namespace Gputel.Collector.Collectors;

/// <summary>Power draw, enforced limit and energy since the driver loaded.</summary>
public sealed class PowerCollector : IGpuCollector
{
    /// <inheritdoc />
    public string Name => "power";

    /// <inheritdoc />
    public Cadence Cadence => Cadence.Slow;

    /// <inheritdoc />
    public bool HostWide => false;

    /// <inheritdoc />
    public void Collect(GpuDevice? device, CollectorOutput output)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(output);
        if (NvmlResult.Ok(device.Handle.TryGetPowerUsage(out uint milliwatts), "nvmlDeviceGetPowerUsage", output))
        {
            output.Readings.Add(new(GpuMetrics.Power, device.Slot, milliwatts / 1000.0));
        }

        if (NvmlResult.Ok(device.Handle.TryGetPowerLimit(out uint limit), "nvmlDeviceGetEnforcedPowerLimit", output))
        {
            output.Readings.Add(new(GpuMetrics.PowerLimit, device.Slot, limit / 1000.0));
        }

        if (NvmlResult.Ok(device.Handle.TryGetTotalEnergy(out ulong millijoules), "nvmlDeviceGetTotalEnergyConsumption", output))
        {
            output.Readings.Add(new(GpuMetrics.Energy, device.Slot, millijoules / 1000.0));
        }
    }
}
