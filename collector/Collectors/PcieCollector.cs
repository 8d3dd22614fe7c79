using Gputel.Collector.Model;

namespace Gputel.Collector.Collectors;

/// <summary>PCIe transmit and receive throughput, and link replays.</summary>
public sealed class PcieCollector : IGpuCollector
{
    /// <inheritdoc />
    public string Name => "pcie";

    /// <inheritdoc />
    public Cadence Cadence => Cadence.Slow;

    /// <inheritdoc />
    public bool HostWide => false;

    /// <inheritdoc />
    public void Collect(GpuDevice? device, CollectorOutput output)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(output);
        // NVML reports KB/s with 1 KB = 1024 bytes.
        if (NvmlResult.Ok(device.Handle.TryGetPcieThroughput(transmit: true, out uint tx), "nvmlDeviceGetPcieThroughput(tx)", output))
        {
            output.Readings.Add(new(GpuMetrics.PcieTx, device.Slot, tx * 1024.0));
        }

        if (NvmlResult.Ok(device.Handle.TryGetPcieThroughput(transmit: false, out uint rx), "nvmlDeviceGetPcieThroughput(rx)", output))
        {
            output.Readings.Add(new(GpuMetrics.PcieRx, device.Slot, rx * 1024.0));
        }

        if (NvmlResult.Ok(device.Handle.TryGetPcieReplayCounter(out uint replays), "nvmlDeviceGetPcieReplayCounter", output))
        {
            output.Readings.Add(new(GpuMetrics.PcieReplays, device.Slot, replays));
        }
    }
}
