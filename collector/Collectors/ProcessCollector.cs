using System.Collections.Concurrent;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Processes;

namespace Gputel.Collector.Collectors;

/// <summary>
/// GPU memory per process, with command and container. A process with both a compute and a
/// graphics context appears once, with the larger of the two figures (NVML reports the same
/// allocation in both lists). A process is described from <c>/proc</c> when it first appears on a
/// GPU and remembered while it stays there, so steady state costs no file reads: a pid cannot be
/// reused without the old process leaving the GPU's list first. A process described while the
/// kubelet lookup failed is described again on later runs, until the lookup works.
/// </summary>
public sealed class ProcessCollector(ProcessDescriber describer) : IGpuCollector
{
    private readonly ConcurrentDictionary<int, DeviceState> _devices = new();
    private readonly Lock _noteGate = new();
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
        DeviceState state = _devices.GetOrAdd(device.Slot, _ => new DeviceState());
        // State and lock per GPU: a driver call that hangs on one GPU holds up no other GPU's thread.
        // The lock only orders two callers on the same GPU.
        lock (state.Gate)
        {
            state.Scratch.Clear();
            bool compute = NvmlResult.Ok(device.Handle.TryGetProcesses(graphics: false, state.Scratch), "nvmlDeviceGetComputeRunningProcesses", output);
            bool graphics = NvmlResult.Ok(device.Handle.TryGetProcesses(graphics: true, state.Scratch), "nvmlDeviceGetGraphicsRunningProcesses", output);
            if (!compute && !graphics)
            {
                return;
            }

            state.UsedByPid.Clear();
            foreach (GpuProcessInfo p in state.Scratch)
            {
                ulong used = p.UsedBytes ?? 0;
                state.UsedByPid[p.Pid] = state.UsedByPid.TryGetValue(p.Pid, out ulong seen) ? Math.Max(seen, used) : used;
            }

            foreach (int gone in state.Known.Keys.Where(pid => !state.UsedByPid.ContainsKey(pid)).ToList())
            {
                state.Known.Remove(gone);
            }

            foreach ((int pid, ulong used) in state.UsedByPid)
            {
                // Described while the kubelet lookup failed: the pod name is missing, so ask again.
                if (!state.Known.TryGetValue(pid, out KnownProcess known) || known.DuringKubeletFailure)
                {
                    ProcessDescriber.ProcessIdentity identity = describer.Describe(pid, device);
                    string? failure = describer.Pods?.Failure;
                    state.Known[pid] = known = new KnownProcess(identity, failure is not null);
                    NoteKubeletChange(failure, output);
                }

                ProcessDescriber.ProcessIdentity who = known.Identity;
                output.Processes.Add(new ProcessReading(device.Slot, pid, who.Command, who.ContainerId, who.PodName, who.Namespace, used) { PodUid = who.PodUid });
            }
        }
    }

    /// <summary>Logs once when the kubelet lookup starts failing, and once when it works again.</summary>
    private void NoteKubeletChange(string? failure, CollectorOutput output)
    {
        lock (_noteGate)
        {
            if (failure != _kubeletFailure)
            {
                output.Notes.Add(failure is null ? "kubelet pod-resources answers again: pod names are back" : $"{failure}; pods are known by UID only");
                _kubeletFailure = failure;
            }
        }
    }

    private readonly record struct KnownProcess(ProcessDescriber.ProcessIdentity Identity, bool DuringKubeletFailure);

    /// <summary>What the runs on one GPU keep from one run to the next.</summary>
    private sealed class DeviceState
    {
        public Lock Gate { get; } = new();

        public List<GpuProcessInfo> Scratch { get; } = [];

        public Dictionary<int, KnownProcess> Known { get; } = [];

        public Dictionary<int, ulong> UsedByPid { get; } = [];
    }
}
