using Gputel.Collector.Collectors;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Sampling;
using Gputel.Collector.Store;

namespace Gputel.Agent.Commands;

/// <summary>One full sample of every GPU, taken on the calling thread, for one-shot commands.</summary>
internal sealed class DeviceSnapshot
{
    private readonly SampleStore _store;

    private DeviceSnapshot(GpuSession session, SampleStore store, TimeSpan sampleTime)
    {
        Session = session;
        _store = store;
        SampleTime = sampleTime;
    }

    /// <summary>How long the one full sample of every GPU took.</summary>
    public TimeSpan SampleTime { get; }

    public GpuSession Session { get; }

    public IReadOnlyList<GpuDevice> Devices => _store.Devices;

    public static DeviceSnapshot Take(GpuSession session)
    {
        string[] names = CollectorCatalog.Names.Where(n => n is not "xid" and not "host").ToArray();
        var store = new SampleStore(session.Devices, names);
        IReadOnlyList<IGpuCollector> collectors = CollectorCatalog.Create(names, store, xid: null);
        using var sampler = new Sampler(store, collectors, TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(1));
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        sampler.SampleOnce();
        return new DeviceSnapshot(session, store, System.Diagnostics.Stopwatch.GetElapsedTime(start));
    }

    public bool IsUp(int device) => _store.IsUp(device);

    public MemoryInfo? Memory(int device) =>
        _store.Memory(device).TryRead(closeWindow: false, out MemoryInfo memory, out _) ? memory : null;

    public MemoryInfo? MigMemory(int device, int instance) =>
        _store.MigMemory(device, instance).TryRead(closeWindow: false, out MemoryInfo memory, out _) ? memory : null;

    /// <summary>The value of <paramref name="metric"/> for a device, or null where it is not supported.</summary>
    public double? Value(int device, MetricDescriptor metric)
    {
        foreach (Reading r in Readings(device))
        {
            if (ReferenceEquals(r.Metric, metric))
            {
                return r.Value;
            }
        }

        return null;
    }

    public IEnumerable<Reading> Readings(int device)
    {
        for (int c = 0; c < _store.CollectorNames.Count; c++)
        {
            foreach (Reading r in _store.Get(c, device)?.Readings ?? [])
            {
                yield return r;
            }
        }
    }

    public IEnumerable<ProcessReading> Processes(int device)
    {
        for (int c = 0; c < _store.CollectorNames.Count; c++)
        {
            foreach (ProcessReading p in _store.Get(c, device)?.Processes ?? [])
            {
                yield return p;
            }
        }
    }

    /// <summary>Collector failures on this device, as "collector: message".</summary>
    public IEnumerable<string> Errors(int device)
    {
        for (int c = 0; c < _store.CollectorNames.Count; c++)
        {
            if (_store.Get(c, device) is { Success: false } failed)
            {
                yield return $"{_store.CollectorNames[c]}: {failed.Error}";
            }
        }
    }
}
