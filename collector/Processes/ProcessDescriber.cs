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
    private readonly ConcurrentDictionary<int, (long StartTime, ProcessIdentity Identity)> _cache = new();

    /// <summary>What we know of a process.</summary>
    /// <param name="Command">Short command name (<c>comm</c>), or NVML's name for it when /proc cannot be read.</param>
    /// <param name="ContainerId">Container id, or empty.</param>
    /// <param name="PodUid">Kubernetes pod UID, or empty.</param>
    public readonly record struct ProcessIdentity(string Command, string ContainerId, string PodUid);

    /// <summary>Describes <paramref name="pid"/>; never throws for a vanished or unreadable process.</summary>
    public ProcessIdentity Describe(int pid)
    {
        string dir = Path.Combine(procRoot, pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        long startTime = ReadStartTime(dir);
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

    // Field 22 of /proc/<pid>/stat (start time in clock ticks). Read into a stack buffer: this runs
    // for every GPU process every second, so it must not allocate. The command in field 2 may hold
    // spaces and ')' itself, so fields are counted after the last ')'.
    private static long ReadStartTime(string dir)
    {
        Span<byte> buffer = stackalloc byte[1024];
        string path = Path.Combine(dir, "stat");
        if (!File.Exists(path))
        {
            // A process in another PID namespace (agent without hostPID): common, so no exception.
            return -1;
        }

        int length;
        try
        {
            using Microsoft.Win32.SafeHandles.SafeFileHandle handle = File.OpenHandle(path);
            length = RandomAccess.Read(handle, buffer, 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return -1;
        }

        ReadOnlySpan<byte> stat = buffer[..length];
        int close = stat.LastIndexOf((byte)')');
        if (close < 0)
        {
            return -1;
        }

        // After ") " come fields 3, 4, ...; field 22 is the 20th of them.
        ReadOnlySpan<byte> rest = stat[(close + 1)..];
        for (int field = 0; field < 19; field++)
        {
            rest = rest.TrimStart((byte)' ');
            int space = rest.IndexOf((byte)' ');
            if (space < 0)
            {
                return -1;
            }

            rest = rest[space..];
        }

        rest = rest.TrimStart((byte)' ');
        int end = rest.IndexOfAny((byte)' ', (byte)'\n');
        return System.Buffers.Text.Utf8Parser.TryParse(end < 0 ? rest : rest[..end], out long ticks, out _) ? ticks : -1;
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
