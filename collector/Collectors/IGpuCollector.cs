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
/// null for <see cref="IGpuCollector.HostWide"/> collectors) and appends what it found. A reading
/// that fails is recorded in <see cref="CollectorOutput.Failures"/> and the others are still
/// appended; "not supported" fields (or functions the driver lacks) are simply left out. It throws
/// <see cref="Nvml.NvmlException"/> when the device is lost, and any exception fails the whole run.
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

    /// <summary>Readings that failed in this run (an error other than "no data"), one entry per reading.</summary>
    public List<ReadingFailure> Failures { get; } = [];

    /// <summary>Empties all buffers.</summary>
    public void Clear()
    {
        Readings.Clear();
        Processes.Clear();
        Notes.Clear();
        Failures.Clear();
    }
}

/// <summary>One reading of a run that failed while the collector's other readings went on.</summary>
/// <param name="Reading">What was read, e.g. <c>nvmlDeviceGetClockInfo(sm)</c>.</param>
/// <param name="Code">The NVML return code.</param>
public readonly record struct ReadingFailure(string Reading, Nvml.NvmlReturn Code)
{
    /// <summary>One line for the log, e.g. <c>nvmlDeviceGetPowerUsage: unknown error (999)</c>.</summary>
    public string Message => $"{Reading}: {Nvml.NvmlErrors.Describe(Code)} ({(int)Code})";
}
