using Gputel.Collector.Model;

namespace Gputel.Collector.Collectors;

/// <summary>ECC error totals: corrected and uncorrected, since the driver loaded and over the board's life.</summary>
public sealed class EccCollector : IGpuCollector
{
    private static readonly (bool Corrected, bool Aggregate, MetricDescriptor Metric)[] Counters =
    [
        (true, false, GpuMetrics.EccCorrectedVolatile),
        (false, false, GpuMetrics.EccUncorrectedVolatile),
        (true, true, GpuMetrics.EccCorrectedAggregate),
        (false, true, GpuMetrics.EccUncorrectedAggregate),
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
        foreach ((bool corrected, bool aggregate, MetricDescriptor metric) in Counters)
        {
            // Boards without ECC (or with it off) answer NOT_SUPPORTED: no series, not an error.
            if (NvmlResult.Ok(device.Handle.TryGetEccErrors(corrected, aggregate, out ulong count), "nvmlDeviceGetTotalEccErrors"))
            {
                output.Readings.Add(new(metric, device.Slot, count));
            }
        }
    }
}
