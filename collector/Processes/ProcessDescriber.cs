using Gputel.Collector.Model;
using Gputel.Collector.Nvml;

namespace Gputel.Collector.Processes;

/// <summary>
/// Command name, container and pod of a process, read from <c>/proc</c> (or another root, for tests
/// or an agent that sees the host's <c>/proc</c> elsewhere) and, for pod names, from the kubelet.
/// Callers cache the answer for as long as the process stays on the GPU (see <see cref="Collectors.ProcessCollector"/>).
/// </summary>
/// <param name="procRoot">Where <c>/proc</c> is.</param>
/// <param name="pods">The kubelet's device assignments, or null where there is no kubelet socket: then pods are known by UID only.</param>
public sealed class ProcessDescriber(string procRoot = "/proc", PodDirectory? pods = null)
{
    /// <summary>What we know of a process.</summary>
    /// <param name="Command">Short command name (<c>comm</c>), or NVML's name for it when /proc cannot be read.</param>
    /// <param name="ContainerId">Container id, or empty.</param>
    /// <param name="PodUid">Kubernetes pod UID, or empty.</param>
    /// <param name="PodName">Kubernetes pod name, or empty where it cannot be known.</param>
    /// <param name="Namespace">Kubernetes namespace, or empty where it cannot be known.</param>
    public readonly record struct ProcessIdentity(string Command, string ContainerId, string PodUid, string PodName = "", string Namespace = "");

    /// <summary>The kubelet lookup in use, or null.</summary>
    public PodDirectory? Pods => pods;

    /// <summary>Describes <paramref name="pid"/> without pod names; never throws for a vanished or unreadable process.</summary>
    public ProcessIdentity Describe(int pid) => Describe(pid, null);

    /// <summary>
    /// Describes <paramref name="pid"/>, running on <paramref name="gpu"/>; never throws for a
    /// vanished or unreadable process.
    /// </summary>
    public ProcessIdentity Describe(int pid, GpuDevice? gpu)
    {
        string dir = Path.Combine(procRoot, pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        string command = TryRead(Path.Combine(dir, "comm"))?.Trim() ?? string.Empty;
        if (command.Length == 0)
        {
            // Without the host's /proc (a container without hostPID), NVML still knows the name.
            string? nvmlName = NvmlLibrary.LoadedFrom is null ? null : NvmlDriver.GetProcessName(pid);
            command = nvmlName is null ? string.Empty : Path.GetFileName(nvmlName);
        }

        string? cgroupText = TryRead(Path.Combine(dir, "cgroup"));
        CgroupParser.CgroupIdentity cgroup = CgroupParser.Parse(cgroupText ?? string.Empty);
        var identity = new ProcessIdentity(command, cgroup.ContainerId, cgroup.PodUid);

        // A process whose cgroup is readable and names no container runs on the host: it gets no
        // pod even on a GPU given to one. An unreadable cgroup (another PID namespace) is no proof.
        bool hostProcess = cgroupText is not null && cgroup.ContainerId.Length == 0 && cgroup.PodUid.Length == 0;
        if (pods is null || gpu is null || hostProcess)
        {
            return identity;
        }

        PodDeviceAssignment? pod = pods.Find(gpu, () => Hostname(dir));
        return pod is null ? identity : identity with { PodName = pod.Pod, Namespace = pod.Namespace };
    }

    /// <summary>The <c>HOSTNAME</c> in the process's environment, or null where it is not readable.</summary>
    private static string? Hostname(string dir)
    {
        string? environ = TryRead(Path.Combine(dir, "environ"));
        if (environ is null)
        {
            return null;
        }

        foreach (string entry in environ.Split('\0'))
        {
            if (entry.StartsWith("HOSTNAME=", StringComparison.Ordinal))
            {
                return entry["HOSTNAME=".Length..];
            }
        }

        return null;
    }

    private static string? TryRead(string path)
    {
        // A process in another PID namespace is common (agent without hostPID): no exception for it.
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
