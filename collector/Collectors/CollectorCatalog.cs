using Gputel.Collector.Processes;
using Gputel.Collector.Store;

namespace Gputel.Collector.Collectors;

/// <summary>
/// Every collector the agent knows, by name. Users choose them with a list of names
/// (<c>memory,power</c>: only these) or of exclusions (<c>-xid,-ecc</c>: all but these).
/// </summary>
public static class CollectorCatalog
{
    /// <summary>All collector names, in the order they run.</summary>
    public static IReadOnlyList<string> Names { get; } =
        ["memory", "utilization", "power", "temperature", "clocks", "throttle", "pcie", "ecc", "nvlink", "gpm", "processes", "xid", "host"];

    /// <summary>Whether the named collector reads the host once per run instead of each GPU.</summary>
    public static bool IsHostWide(string name) => name == "host";

    /// <summary>
    /// Turns a user's selection into collector names. Empty or null selects all.
    /// Throws <see cref="ArgumentException"/> naming the bad entry.
    /// </summary>
    public static IReadOnlyList<string> Select(string? selection)
    {
        if (string.IsNullOrWhiteSpace(selection) || selection.Trim() == "all")
        {
            return Names;
        }

        string[] parts = selection.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        bool exclusions = parts.All(p => p.StartsWith('-'));
        if (!exclusions && parts.Any(p => p.StartsWith('-')))
        {
            throw new ArgumentException($"'{selection}' mixes names and exclusions: give either names (memory,power) or exclusions (-xid,-ecc)");
        }

        var chosen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string part in parts)
        {
            string name = part.TrimStart('-');
            if (!Names.Contains(name))
            {
                throw new ArgumentException($"unknown collector '{name}'; known: {string.Join(", ", Names)}");
            }

            chosen.Add(name);
        }

        return exclusions ? Names.Where(n => !chosen.Contains(n)).ToArray() : Names.Where(chosen.Contains).ToArray();
    }

    /// <summary>
    /// Creates the named collectors, in the given order (the store's collector list must be the same).
    /// Without an Xid watcher (no driver, or events unsupported) the xid collector reports nothing.
    /// </summary>
    /// <param name="names">Collector names, from <see cref="Select"/>.</param>
    /// <param name="store">The store the memory collector writes to.</param>
    /// <param name="xid">The Xid event watcher, or null.</param>
    /// <param name="procRoot">Where the host's <c>/proc</c> is.</param>
    /// <param name="pods">The kubelet lookup that names pods of GPU processes, or null.</param>
    public static IReadOnlyList<IGpuCollector> Create(IReadOnlyList<string> names, SampleStore store, XidWatcher? xid, string procRoot = "/proc", PodDirectory? pods = null)
    {
        ArgumentNullException.ThrowIfNull(names);
        return names.Select(name => (IGpuCollector)(name switch
            {
                "memory" => new MemoryCollector(store),
                "utilization" => new UtilizationCollector(),
                "power" => new PowerCollector(),
                "temperature" => new TemperatureCollector(),
                "clocks" => new ClockCollector(),
                "throttle" => new ThrottleCollector(),
                "pcie" => new PcieCollector(),
                "ecc" => new EccCollector(),
                "nvlink" => new NvLinkCollector(),
                "gpm" => new GpmCollector(),
                "processes" => new ProcessCollector(new ProcessDescriber(procRoot, pods)),
                "xid" => new XidCollector(xid),
                "host" => new HostCollector(procRoot),
                _ => throw new ArgumentException($"unknown collector '{name}'"),
            })).ToArray();
    }
}
