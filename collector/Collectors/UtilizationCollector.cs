using Gputel.Collector.Model;

namespace Gputel.Collector.Collectors;

/// <summary>GPU, memory-controller, video encoder and decoder utilisation, as ratios.</summary>
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
        if (NvmlResult.Ok(device.Handle.TryGetUtilization(out uint gpu, out uint memory), "nvmlDeviceGetUtilizationRates", output))
        {
            output.Readings.Add(new(GpuMetrics.Utilization, device.Slot, gpu / 100.0));
            output.Readings.Add(new(GpuMetrics.MemoryUtilization, device.Slot, memory / 100.0));
        }

        if (NvmlResult.Ok(device.Handle.TryGetCodecUtilization(encoder: true, out uint encoder), "nvmlDeviceGetEncoderUtilization", output))
        {
            output.Readings.Add(new(GpuMetrics.EncoderUtilization, device.Slot, encoder / 100.0));
        }

        if (NvmlResult.Ok(device.Handle.TryGetCodecUtilization(encoder: false, out uint decoder), "nvmlDeviceGetDecoderUtilization", output))
        {
            output.Readings.Add(new(GpuMetrics.DecoderUtilization, device.Slot, decoder / 100.0));
        }
    }
}
