using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Store;

namespace Gputel.Collector.Collectors;

/// <summary>
/// Device memory at the high-frequency interval. Samples go to the store's memory windows rather
/// than to readings, so a 10 ms cadence costs no allocation and the scrape can report both the
/// last value and the peak since the previous scrape.
/// </summary>
public sealed class MemoryCollector(SampleStore store) : IGpuCollector
{
    /// <inheritdoc />
    public string Name => "memory";

    /// <inheritdoc />
    public Cadence Cadence => Cadence.Fast;

    /// <inheritdoc />
    public bool HostWide => false;

    /// <inheritdoc />
    public void Collect(GpuDevice? device, CollectorOutput output)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(output);
        if (NvmlResult.Ok(device.Handle.TryGetMemory(out MemoryInfo memory), "nvmlDeviceGetMemoryInfo", output))
        {
            store.Memory(device.Slot).Record(memory);
        }

        for (int i = 0; i < device.MigInstances.Count; i++)
        {
            if (NvmlResult.Ok(device.MigInstances[i].Handle.TryGetMemory(out MemoryInfo mig), "nvmlDeviceGetMemoryInfo(MIG instance)", output))
            {
                store.MigMemory(device.Slot, i).Record(mig);
            }
        }
    }
}
