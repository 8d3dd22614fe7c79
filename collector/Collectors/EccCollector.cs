using Gputel.Collector.Model;
using Gputel.Collector.Nvml;

namespace Gputel.Collector.Collectors;

/// <summary>
/// Memory errors: ECC totals (corrected and uncorrected, since the driver loaded and over the
/// board's life) and the row remapper's counts (Ampere and newer).
/// </summary>
public sealed class EccCollector : IGpuCollector
{
    private static readonly (bool Corrected, bool Aggregate, MetricDescriptor Metric, string Reading)[] Counters =
    [
        (true, false, GpuMetrics.EccCorrectedVolatile, "nvmlDeviceGetTotalEccErrors(corrected, volatile)"),
        (false, false, GpuMetrics.EccUncorrectedVolatile, "nvmlDeviceGetTotalEccErrors(uncorrected, volatile)"),
        (true, true, GpuMetrics.EccCorrectedAggregate, "nvmlDeviceGetTotalEccErrors(corrected, aggregate)"),
        (false, true, GpuMetrics.EccUncorrectedAggregate, "nvmlDeviceGetTotalEccErrors(uncorrected, aggregate)"),
    ];

    /// <inheritdoc />
    public string Name => "ecc";

    /// <inheritdoc />
    public Cadence Cadence => Cadence.Slow;

    /// <inheritdoc />
    public bool HostWide => false;

    /// <inheritdoc />
    public void Collect(GpuDevice? device, CollectorOutput output)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(output);
        foreach ((bool corrected, bool aggregate, MetricDescriptor metric, string reading) in Counters)
        {
            // Boards without ECC (or with it off) answer NOT_SUPPORTED: no series, not an error.
            if (NvmlResult.Ok(device.Handle.TryGetEccErrors(corrected, aggregate, out ulong count), reading, output))
            {
                output.Readings.Add(new(metric, device.Slot, count));
            }
        }

        if (NvmlResult.Ok(device.Handle.TryGetRemappedRows(out RemappedRows rows), "nvmlDeviceGetRemappedRows", output))
        {
            output.Readings.Add(new(GpuMetrics.RemappedRowsCorrectable, device.Slot, rows.Corrected));
            output.Readings.Add(new(GpuMetrics.RemappedRowsUncorrectable, device.Slot, rows.Uncorrected));
            output.Readings.Add(new(GpuMetrics.RowRemapPending, device.Slot, rows.Pending ? 1 : 0));
            output.Readings.Add(new(GpuMetrics.RowRemapFailure, device.Slot, rows.Failed ? 1 : 0));
        }
    }
}
