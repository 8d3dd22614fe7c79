using Gputel.Collector.Nvml;

namespace Gputel.Collector.Processes;

/// <summary>
/// Command name and container of a process, read from <c>/proc</c> (or another root, for tests).
/// Callers cache the answer for as long as the process stays on the GPU (see <see cref="Collectors.ProcessCollector"/>).
/// </summary>
public sealed class ProcessDescriber(string procRoot = "/proc")
{
    /// <summary>What we know of a process.</summary>
    /// <param name="Command">Short command name (<c>comm</c>), or NVML's name for it when /proc cannot be read.</param>
    /// <param name="ContainerId">Container id, or empty.</param>
    /// <param name="PodUid">Kubernetes pod UID, or empty.</param>
    public readonly record struct ProcessIdentity(string Command, string ContainerId, string PodUid);

    /// <summary>Describes <paramref name="pid"/>; never throws for a vanished or unreadable process.</summary>
    public ProcessIdentity Describe(int pid)
    {
        string dir = Path.Combine(procRoot, pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        string command = TryRead(Path.Combine(dir, "comm"))?.Trim() ?? string.Empty;
        if (command.Length == 0)
        {
            // Without the host's /proc (a container without hostPID), NVML still knows the name.
            string? nvmlName = NvmlLibrary.LoadedFrom is null ? null : NvmlDriver.GetProcessName(pid);
            command = nvmlName is null ? string.Empty : Path.GetFileName(nvmlName);
        }

        CgroupParser.CgroupIdentity cgroup = CgroupParser.Parse(TryRead(Path.Combine(dir, "cgroup")) ?? string.Empty);
        return new ProcessIdentity(command, cgroup.ContainerId, cgroup.PodUid);
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
