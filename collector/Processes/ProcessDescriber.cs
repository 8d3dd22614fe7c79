using System.Collections.Concurrent;
using Gputel.Collector.Nvml;

namespace Gputel.Collector.Processes;

/// <summary>
/// Command name and container of a process, read from <c>/proc</c> (or another root, for tests).
/// Results are cached per pid and start time, so a process is read once, not every second,
/// and a reused pid is not mistaken for the old process.
/// </summary>
public sealed class ProcessDescriber(string procRoot = "/proc")
{
    private const int MaxCached = 4096;
    private readonly ConcurrentDictionary<int, (string StartTime, ProcessIdentity Identity)> _cache = new();

    /// <summary>What we know of a process.</summary>
    /// <param name="Command">Short command name (<c>comm</c>), or NVML's name for it when /proc cannot be read.</param>
    /// <param name="ContainerId">Container id, or empty.</param>
    /// <param name="PodUid">Kubernetes pod UID, or empty.</param>
    public readonly record struct ProcessIdentity(string Command, string ContainerId, string PodUid);

    /// <summary>Describes <paramref name="pid"/>; never throws for a vanished or unreadable process.</summary>
    public ProcessIdentity Describe(int pid)
    {
        string dir = Path.Combine(procRoot, pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        string startTime = ReadStartTime(dir);
        if (_cache.TryGetValue(pid, out var cached) && cached.StartTime == startTime)
        {
            return cached.Identity;
        }

        string command = TryRead(Path.Combine(dir, "comm"))?.Trim() ?? string.Empty;
        if (command.Length == 0)
        {
            // Without the host's /proc (a container without hostPID), NVML still knows the name.
            string? nvmlName = NvmlLibrary.LoadedFrom is null ? null : NvmlDriver.GetProcessName(pid);
            command = nvmlName is null ? string.Empty : Path.GetFileName(nvmlName);
        }

        CgroupParser.CgroupIdentity cgroup = CgroupParser.Parse(TryRead(Path.Combine(dir, "cgroup")) ?? string.Empty);
        var identity = new ProcessIdentity(command, cgroup.ContainerId, cgroup.PodUid);
        if (_cache.Count >= MaxCached)
        {
            // Exited processes are never looked up again; a bound is simpler than tracking exits.
            _cache.Clear();
        }

        _cache[pid] = (startTime, identity);
        return identity;
    }

    // Field 22 of /proc/<pid>/stat; the command in field 2 may contain spaces and ')' so parse after the last ')'.
    private static string ReadStartTime(string dir)
    {
        string? stat = TryRead(Path.Combine(dir, "stat"));
        if (stat is null)
        {
            return string.Empty;
        }

        int close = stat.LastIndexOf(')');
        string[] fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 19 ? fields[19] : string.Empty;
    }

    private static string? TryRead(string path)
    {
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
