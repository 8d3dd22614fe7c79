using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Processes;

namespace Gputel.Collector.Collectors;

/// <summary>
/// GPU memory per process, with command and container. A process with both a compute and a
/// graphics context appears once, with the larger of the two figures (NVML reports the same
/// allocation in both lists).
/// </summary>
public sealed class ProcessCollector(ProcessDescriber describer) : IGpuCollector
{
    private readonly List<GpuProcessInfo> _scratch = [];
    private readonly Lock _gate = new();

    /// <inheritdoc />
    public string Name => "processes";

    /// <inheritdoc />
    public Cadence Cadence => Cadence.Slow;

    /// <inheritdoc />
    public bool HostWide => false;

    /// <inheritdoc />
    public void Collect(GpuDevice? device, CollectorOutput output)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(output);
        // Per-device samplers run in parallel; the scratch list is shared, so take turns.
        lock (_gate)
        {
            _scratch.Clear();
            bool compute = NvmlResult.Ok(device.Handle.TryGetProcesses(graphics: false, _scratch), "nvmlDeviceGetComputeRunningProcesses_v3");
            bool graphics = NvmlResult.Ok(device.Handle.TryGetProcesses(graphics: true, _scratch), "nvmlDeviceGetGraphicsRunningProcesses_v3");
            if (!compute && !graphics)
            {
                return;
            }

            var byPid = new Dictionary<int, ulong>();
            foreach (GpuProcessInfo p in _scratch)
            {
                ulong used = p.UsedBytes ?? 0;
                byPid[p.Pid] = byPid.TryGetValue(p.Pid, out ulong seen) ? Math.Max(seen, used) : used;
            }

            foreach ((int pid, ulong used) in byPid)
            {
                ProcessDescriber.ProcessIdentity who = describer.Describe(pid);
                output.Processes.Add(new ProcessReading(device.Slot, pid, who.Command, who.ContainerId, string.Empty, string.Empty, used));
            }
        }
    }
}
