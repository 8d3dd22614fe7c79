using Gputel.Collector.Model;

namespace Gputel.Collector.Collectors;

/// <summary>How often a collector runs.</summary>
public enum Cadence
{
    /// <summary>At the high-frequency memory interval (default 10 ms).</summary>
    Fast,
    /// <summary>At the regular interval (default 1 s).</summary>
    Slow,
}

/// <summary>
/// One metric family. A collector reads one device (or the host, when the device is
/// null for <see cref="IGpuCollector.HostWide"/> collectors) and appends what it found. It throws
/// <see cref="Nvml.NvmlException"/> for a real failure; "not supported" fields are simply left out.
/// </summary>
public interface IGpuCollector
{
    /// <summary>The name users enable or disable it by, and the <c>collector</c> label of its self metrics.</summary>
    string Name { get; }

    /// <summary>When it runs.</summary>
    Cadence Cadence { get; }

    /// <summary>True when it reads the host once per run instead of each GPU.</summary>
    bool HostWide { get; }

    /// <summary>Reads one device (null for host-wide collectors) into <paramref name="output"/>.</summary>
    void Collect(GpuDevice? device, CollectorOutput output);
}

/// <summary>Buffers a collector appends to during one run; reused between runs by the sampler.</summary>
public sealed class CollectorOutput
{
    /// <summary>Device and host readings.</summary>
    public List<Reading> Readings { get; } = [];

    /// <summary>Per-process rows.</summary>
    public List<ProcessReading> Processes { get; } = [];

    /// <summary>
    /// One-line remarks for the log, e.g. "GPM not supported: no profiling metrics". The collector
    /// adds a note once, when it learns the fact, so the log stays quiet afterwards.
    /// </summary>
    public List<string> Notes { get; } = [];

    /// <summary>Empties all buffers.</summary>
    public void Clear()
    {
        Readings.Clear();
        Processes.Clear();
        Notes.Clear();
    }
}
