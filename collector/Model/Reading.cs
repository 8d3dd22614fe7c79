namespace Gputel.Collector.Model;

/// <summary>One measured value of one quantity for one device (or the host when <see cref="Device"/> is -1).</summary>
/// <param name="Metric">What was measured.</param>
/// <param name="Device">The GPU's <see cref="GpuDevice.Slot"/>, or -1 for host-wide values.</param>
/// <param name="Value">The value in the base unit (bytes, seconds, watts, joules, hertz, ratio 0-1).</param>
/// <param name="LabelValue">The value of the descriptor's extra label when it is not fixed (e.g. the Xid code).</param>
/// <param name="MigInstance">The MIG instance label, for readings of a MIG slice.</param>
public readonly record struct Reading(MetricDescriptor Metric, int Device, double Value, string? LabelValue = null, MigInstance? MigInstance = null);

/// <summary>GPU memory used by one process on one GPU, with where the process lives.</summary>
/// <param name="Device">The GPU's <see cref="GpuDevice.Slot"/>.</param>
/// <param name="Pid">Process id (host PID namespace).</param>
/// <param name="Command">Short command name.</param>
/// <param name="ContainerId">Container id from the process's cgroup, or empty.</param>
/// <param name="Pod">Kubernetes pod name, or empty where unknown.</param>
/// <param name="Namespace">Kubernetes namespace, or empty where unknown.</param>
/// <param name="UsedBytes">GPU memory the process holds.</param>
public readonly record struct ProcessReading(int Device, int Pid, string Command, string ContainerId, string Pod, string Namespace, double UsedBytes)
{
    /// <summary>Kubernetes pod UID from the process's cgroup, or empty; known even where the pod's name is not.</summary>
    public string PodUid { get; init; } = string.Empty;
}
