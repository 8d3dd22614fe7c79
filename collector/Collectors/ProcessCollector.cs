using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Processes;

namespace Gputel.Collector.Collectors;

/// <summary>
/// GPU memory per process, with command and container. A process with both a compute and a
/// graphics context appears once, with the larger of the two figures (NVML reports the same
/// allocation in both lists). A process is described from <c>/proc</c> when it first appears on a
/// GPU and remembered while it stays there, so steady state costs no file reads: a pid cannot be
/// reused without the old process leaving the GPU's list first.
/// </summary>
public sealed class ProcessCollector(ProcessDescriber describer) : IGpuCollector
{
    private readonly Lock _gate = new();
    private readonly List<GpuProcessInfo> _scratch = [];
    private readonly Dictionary<int, Dictionary<int, ProcessDescriber.ProcessIdentity>> _known = [];
    private readonly Dictionary<int, ulong> _usedByPid = [];
    private string? _kubeletFailure;

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
        // Per-device samplers run in parallel; the scratch buffers are shared, so take turns.
        lock (_gate)
        {
            _scratch.Clear();
            bool compute = NvmlResult.Ok(device.Handle.TryGetProcesses(graphics: false, _scratch), "nvmlDeviceGetComputeRunningProcesses_v3");
            bool graphics = NvmlResult.Ok(device.Handle.TryGetProcesses(graphics: true, _scratch), "nvmlDeviceGetGraphicsRunningProcesses_v3");
            if (!compute && !graphics)
            {
                return;
            }

            _usedByPid.Clear();
            foreach (GpuProcessInfo p in _scratch)
            {
                ulong used = p.UsedBytes ?? 0;
                _usedByPid[p.Pid] = _usedByPid.TryGetValue(p.Pid, out ulong seen) ? Math.Max(seen, used) : used;
            }

            if (!_known.TryGetValue(device.Slot, out var known))
            {
                _known[device.Slot] = known = [];
            }

            foreach (int gone in known.Keys.Where(pid => !_usedByPid.ContainsKey(pid)).ToList())
            {
                known.Remove(gone);
            }

            foreach ((int pid, ulong used) in _usedByPid)
            {
                if (!known.TryGetValue(pid, out ProcessDescriber.ProcessIdentity who))
                {
                    known[pid] = who = describer.Describe(pid, device);
                    NoteKubeletChange(output);
                }

                output.Processes.Add(new ProcessReading(device.Slot, pid, who.Command, who.ContainerId, who.PodName, who.Namespace, used) { PodUid = who.PodUid });
            }
        }
    }

    /// <summary>Logs once when the kubelet lookup starts failing, and once when it works again.</summary>
    private void NoteKubeletChange(CollectorOutput output)
    {
        string? failure = describer.Pods?.Failure;
        if (failure != _kubeletFailure)
        {
            output.Notes.Add(failure is null ? "kubelet pod-resources answers again: pod names are back" : $"{failure}; pods are known by UID only");
            _kubeletFailure = failure;
        }
    }
}
