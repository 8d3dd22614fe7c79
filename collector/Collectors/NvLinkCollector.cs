using Gputel.Collector.Model;
using Gputel.Collector.Nvml;

namespace Gputel.Collector.Collectors;

/// <summary>NVLink data counters over all links (NVML field values; GPUs without NVLink report nothing).</summary>
public sealed class NvLinkCollector : IGpuCollector
{
    /// <inheritdoc />
    public string Name => "nvlink";

    /// <inheritdoc />
    public Cadence Cadence => Cadence.Slow;

    /// <inheritdoc />
    public bool HostWide => false;

    /// <inheritdoc />
    public void Collect(GpuDevice? device, CollectorOutput output)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(output);
        bool tx = NvmlResult.Ok(device.Handle.TryGetField(NvmlConstants.FieldNvLinkThroughputDataTx, NvmlConstants.AllLinks, out double txKib), "nvmlDeviceGetFieldValues(nvlink tx)", output);
        bool rx = NvmlResult.Ok(device.Handle.TryGetField(NvmlConstants.FieldNvLinkThroughputDataRx, NvmlConstants.AllLinks, out double rxKib), "nvmlDeviceGetFieldValues(nvlink rx)", output);
        // NVML counts KiB.
        if (tx)
        {
            output.Readings.Add(new(GpuMetrics.NvLinkTx, device.Slot, txKib * 1024));
        }

        if (rx)
        {
            output.Readings.Add(new(GpuMetrics.NvLinkRx, device.Slot, rxKib * 1024));
        }

        if (tx && rx)
        {
            output.Readings.Add(new(GpuMetrics.NvLinkBandwidthTotal, device.Slot, txKib + rxKib));
        }
    }
}
