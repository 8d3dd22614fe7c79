using Prometheus;

namespace Gputel.Collector.Exposition;

/// <summary>
/// The agent's own CPU, memory and GC figures, under the standard <c>process_*</c> names. Read from
/// the runtime's cheap counters: prometheus-net's <c>DotNetStats</c> walks <c>/proc/self/task</c>
/// and <c>/proc/self/fd</c> on every scrape, which cost several times the rest of the scrape.
/// </summary>
internal sealed class RuntimeMetrics
{
    private readonly Counter _cpu;
    private readonly Gauge _resident;
    private readonly Gauge _heap;
    private readonly Counter _collections;

    public RuntimeMetrics(IMetricFactory factory)
    {
        _cpu = factory.CreateCounter("process_cpu_seconds_total", "Total user and system CPU time spent by the agent, in seconds.");
        _resident = factory.CreateGauge("process_resident_memory_bytes", "Resident memory of the agent, in bytes.");
        factory.CreateGauge("process_start_time_seconds", "Start time of the agent since the Unix epoch, in seconds.")
            .Set(new DateTimeOffset(System.Diagnostics.Process.GetCurrentProcess().StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0);
        _heap = factory.CreateGauge("dotnet_gc_heap_bytes", "Bytes the agent's managed heap holds.");
        _collections = factory.CreateCounter("dotnet_gc_collections_total", "Garbage collections since the agent started, by generation.", ["generation"]);
    }

    public void Update()
    {
        _cpu.IncTo(Environment.CpuUsage.TotalTime.TotalSeconds);
        _resident.Set(Environment.WorkingSet);
        _heap.Set(GC.GetTotalMemory(forceFullCollection: false));
        for (int generation = 0; generation <= GC.MaxGeneration; generation++)
        {
            _collections.WithLabels(generation.ToString(System.Globalization.CultureInfo.InvariantCulture)).IncTo(GC.CollectionCount(generation));
        }
    }
}
