using Gputel.Collector.Model;

namespace Gputel.Collector.Store;

/// <summary>
/// The latest state of every device, written by the samplers and read by exporters. Each
/// collector's result per device is replaced whole (a reference swap), so a reader always sees
/// one complete run and never waits for a sampler, and a sampler never waits for a reader.
/// </summary>
public sealed class SampleStore
{
    private readonly CollectorResult?[,] _results;
    private readonly MemoryWindow[] _memory;
    private readonly MemoryWindow[][] _migMemory;
    private readonly int[] _up;
    private readonly long[] _lagMicroseconds;
    private long _version;

    /// <summary>Creates a store for <paramref name="devices"/> and the named collectors.</summary>
    public SampleStore(IReadOnlyList<GpuDevice> devices, IReadOnlyList<string> collectorNames)
    {
        ArgumentNullException.ThrowIfNull(devices);
        ArgumentNullException.ThrowIfNull(collectorNames);
        Devices = devices;
        CollectorNames = collectorNames;
        // One extra slot after the devices holds host-wide results.
        _results = new CollectorResult?[collectorNames.Count, devices.Count + 1];
        _memory = devices.Select(_ => new MemoryWindow()).ToArray();
        _migMemory = devices.Select(d => d.MigInstances.Select(_ => new MemoryWindow()).ToArray()).ToArray();
        _up = devices.Select(_ => 1).ToArray();
        _lagMicroseconds = new long[devices.Count];
    }

    /// <summary>The GPUs, in NVML index order.</summary>
    public IReadOnlyList<GpuDevice> Devices { get; }

    /// <summary>The collectors whose results this store holds, in catalogue order.</summary>
    public IReadOnlyList<string> CollectorNames { get; }

    /// <summary>The slot of host-wide results (device -1).</summary>
    public int HostSlot => Devices.Count;

    /// <summary>The memory window of a device.</summary>
    public MemoryWindow Memory(int device) => _memory[device];

    /// <summary>The memory window of MIG instance <paramref name="instance"/> of a device.</summary>
    public MemoryWindow MigMemory(int device, int instance) => _migMemory[device][instance];

    /// <summary>
    /// Forgets the memory samples of a device and of all its MIG instances, e.g. when the device is
    /// lost or set aside: none of its pre-loss values is served after that.
    /// </summary>
    public void ClearMemory(int device)
    {
        _memory[device].Clear();
        foreach (MemoryWindow mig in _migMemory[device])
        {
            mig.Clear();
        }
    }

    /// <summary>Replaces the result of collector <paramref name="collector"/> for a device (or <see cref="HostSlot"/>).</summary>
    public void Publish(int collector, int slot, CollectorResult result)
    {
        Volatile.Write(ref _results[collector, slot], result);
        Interlocked.Increment(ref _version);
    }

    /// <summary>The latest result of a collector for a device, or null before its first run.</summary>
    public CollectorResult? Get(int collector, int slot) => Volatile.Read(ref _results[collector, slot]);

    /// <summary>Whether NVML can reach the device (false after it reported the GPU lost).</summary>
    public bool IsUp(int device) => Volatile.Read(ref _up[device]) == 1;

    /// <summary>Marks a device reachable or lost. Returns true when this changed the state.</summary>
    public bool SetUp(int device, bool up)
    {
        bool changed = Interlocked.Exchange(ref _up[device], up ? 1 : 0) != (up ? 1 : 0);
        if (changed)
        {
            Interlocked.Increment(ref _version);
        }

        return changed;
    }

    /// <summary>Records how late the last high-frequency sample of a device started.</summary>
    public void RecordLag(int device, TimeSpan lag)
    {
        Volatile.Write(ref _lagMicroseconds[device], (long)(lag.TotalMilliseconds * 1000));
        Interlocked.Increment(ref _version);
    }

    /// <summary>
    /// Goes up whenever anything a reader can see changes: a published result, a device's state,
    /// a lag, a memory sample or a cleared window. Read it before reading the store: an equal value
    /// later means nothing changed since, so what was made from that read (a rendered exposition)
    /// still holds. It is a sum of counters that only go up, so it never repeats.
    /// </summary>
    public long Version
    {
        get
        {
            long version = Volatile.Read(ref _version);
            for (int d = 0; d < _memory.Length; d++)
            {
                version += _memory[d].Version;
                foreach (MemoryWindow mig in _migMemory[d])
                {
                    version += mig.Version;
                }
            }

            return version;
        }
    }

    /// <summary>The largest lag of the last high-frequency sample across devices.</summary>
    public TimeSpan MaxLag
    {
        get
        {
            long max = 0;
            for (int i = 0; i < _lagMicroseconds.Length; i++)
            {
                max = Math.Max(max, Volatile.Read(ref _lagMicroseconds[i]));
            }

            return TimeSpan.FromMicroseconds(max);
        }
    }
}
