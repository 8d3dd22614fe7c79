using System.Collections.Concurrent;
using System.Diagnostics;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;

namespace Gputel.Collector.Collectors;

/// <summary>
/// Profiling metrics through NVML's GPU Performance Monitoring (Hopper and newer): graphics engine,
/// SM activity and occupancy, tensor and other pipes, DRAM bandwidth, PCIe and NVLink rates, per GPU
/// and per MIG GPU instance. Each run takes one sample and computes the metrics against the previous
/// run's, so no run waits. Devices without GPM say so once in the log and are skipped afterwards.
/// </summary>
public sealed class GpmCollector : IGpuCollector
{
    // NVML needs samples at least 100 ms apart; closer ones would give noise, so the older is kept.
    private static readonly TimeSpan MinimumSpacing = TimeSpan.FromMilliseconds(100);
    private static readonly uint[] MetricIds = GpmMetrics.All.Select(e => e.Id).ToArray();
    private readonly ConcurrentDictionary<int, DeviceState> _devices = new();

    /// <inheritdoc />
    public string Name => "gpm";

    /// <inheritdoc />
    public Cadence Cadence => Cadence.Slow;

    /// <inheritdoc />
    public bool HostWide => false;

    /// <inheritdoc />
    public void Collect(GpuDevice? device, CollectorOutput output)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(output);
        DeviceState state = _devices.GetOrAdd(device.Slot, _ => new DeviceState());
        if (state.Supported is null)
        {
            // Only a definite answer is remembered: after a lost GPU or a failed call the question is
            // asked again next run. A driver without GPM (before R520) answers "no" by lacking the function.
            NvmlReturn rc = device.Handle.TryGetGpmSupport(out bool supported);
            if (NvmlResult.Ok(rc, "nvmlGpmQueryDeviceSupport", output))
            {
                state.Supported = supported;
            }
            else if (NvmlResult.IsNoData(rc))
            {
                state.Supported = false;
            }

            if (state.Supported == false)
            {
                output.Notes.Add(rc == NvmlReturn.FunctionNotFound
                    ? "GPM (profiling metrics) needs an NVIDIA driver of R520 or newer: no gpu_*_active_ratio series"
                    : "GPM (profiling metrics) not supported on this GPU (it needs Hopper or newer, and not a vGPU): no gpu_*_active_ratio series");
            }
        }

        if (state.Supported != true)
        {
            return;
        }

        Sample(device, null, state.Whole, output);
        foreach (MigInstance mig in device.MigInstances.DistinctBy(m => m.GpuInstance))
        {
            Sample(device, mig, state.Mig.GetOrAdd(mig.GpuInstance, _ => new SampleSlot()), output);
        }
    }

    private static void Sample(GpuDevice device, MigInstance? mig, SampleSlot slot, CollectorOutput output)
    {
        if (slot.Previous is not null && Stopwatch.GetElapsedTime(slot.PreviousAt) < MinimumSpacing)
        {
            return;
        }

        if (!NvmlResult.Ok(NvmlGpmSample.TryAllocate(out NvmlGpmSample? current), "nvmlGpmSampleAlloc", output) || current is null)
        {
            return;
        }

        try
        {
            // Drivers of R520 have GPM for whole GPUs but no nvmlGpmMigSampleGet: no MIG series there.
            if (!NvmlResult.Ok(device.Handle.TryGpmSample(current, mig?.GpuInstance), mig is null ? "nvmlGpmSampleGet" : "nvmlGpmMigSampleGet", output))
            {
                current.Dispose();
                return;
            }
        }
        catch
        {
            current.Dispose();
            throw;
        }

        NvmlGpmSample? previous = slot.Previous;
        slot.Previous = current;
        slot.PreviousAt = Stopwatch.GetTimestamp();
        if (previous is null)
        {
            return;
        }

        using (previous)
        {
            Span<(NvmlReturn Return, double Value)> results = stackalloc (NvmlReturn, double)[MetricIds.Length];
            if (!NvmlResult.Ok(NvmlGpm.TryGetMetrics(previous, current, MetricIds, results), "nvmlGpmMetricsGet", output))
            {
                return;
            }

            for (int i = 0; i < MetricIds.Length; i++)
            {
                // A metric the GPU lacks (e.g. an FP64 pipe) answers NOT_SUPPORTED on its own.
                if (results[i].Return == NvmlReturn.Success && double.IsFinite(results[i].Value))
                {
                    GpmMetrics.Entry entry = GpmMetrics.All[i];
                    output.Readings.Add(new(entry.Metric, device.Slot, results[i].Value * entry.Scale, MigInstance: mig));
                }
            }
        }
    }

    private sealed class DeviceState
    {
        public bool? Supported { get; set; }

        public SampleSlot Whole { get; } = new();

        public ConcurrentDictionary<uint, SampleSlot> Mig { get; } = new();
    }

    private sealed class SampleSlot
    {
        public NvmlGpmSample? Previous { get; set; }

        public long PreviousAt { get; set; }
    }
}
