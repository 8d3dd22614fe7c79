using System.Diagnostics;
using Gputel.Collector.Collectors;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Store;

namespace Gputel.Collector.Sampling;

/// <summary>
/// Runs the collectors on schedule and publishes their results to the store.
/// <list type="bullet">
/// <item>One thread samples memory of every GPU at the high-frequency interval: one wake-up per
/// tick for all GPUs keeps the 10 ms cadence cheap.</item>
/// <item>Each GPU has its own thread for the other families, so a slow or hung call on one device
/// never delays the others.</item>
/// <item>A watchdog notices a memory call that hangs, sets that GPU aside and starts a fresh memory
/// thread for the rest; the GPU rejoins when its call finally returns.</item>
/// <item>A lost GPU is marked down and re-probed at the regular interval until it answers again:
/// by the memory thread, or by the GPU's own thread when no memory collector runs.</item>
/// </list>
/// </summary>
public sealed class Sampler : IDisposable
{
    private readonly SampleStore _store;
    private readonly IReadOnlyList<IGpuCollector> _collectors;
    private readonly TimeSpan _fast;
    private readonly TimeSpan _slow;
    private readonly Action<string> _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Thread> _threads = [];
    private readonly string?[,] _lastError;
    private readonly int[,] _lastFailedReadings;
    private readonly long[,] _lastPublished;
    // Readings that are failing, by collector and reading, with the device slot that reported it:
    // each is logged once when it starts failing and once when it works again, not every run.
    private readonly Dictionary<(int Collector, string Reading), int> _failingReadings = [];
    private readonly int[,] _failingOwned;
    private readonly Lock _failingGate = new();
    private readonly bool[] _setAside;
    private readonly bool _fastPerDevice;
    private readonly Lock _fastGate = new();
    private int _fastGeneration;
    private int _fastSlot = -1;
    private long _fastCallStarted;

    /// <summary>Creates a sampler; <see cref="Start"/> begins sampling.</summary>
    /// <param name="store">Where results go; its collector names must match <paramref name="collectors"/>.</param>
    /// <param name="collectors">The enabled collectors.</param>
    /// <param name="fastInterval">The memory sampling interval (default 10 ms).</param>
    /// <param name="slowInterval">The interval of all other families (default 1 s).</param>
    /// <param name="log">Receives one line when a device is lost or comes back, a collector starts or stops failing, or one of its readings does.</param>
    public Sampler(SampleStore store, IReadOnlyList<IGpuCollector> collectors, TimeSpan fastInterval, TimeSpan slowInterval, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(collectors);
        if (!store.CollectorNames.SequenceEqual(collectors.Select(c => c.Name)))
        {
            throw new ArgumentException("the store's collector names must match the collectors", nameof(collectors));
        }

        _store = store;
        _collectors = collectors;
        _fast = fastInterval;
        _slow = slowInterval;
        _log = log ?? (_ => { });
        _lastError = new string?[collectors.Count, store.Devices.Count + 1];
        _lastFailedReadings = new int[collectors.Count, store.Devices.Count + 1];
        _failingOwned = new int[collectors.Count, store.Devices.Count + 1];
        _lastPublished = new long[collectors.Count, store.Devices.Count + 1];
        _setAside = new bool[store.Devices.Count];
        _fastPerDevice = collectors.Any(c => c.Cadence == Cadence.Fast && !c.HostWide);
    }

    /// <summary>
    /// How long a memory call may take before the watchdog sets its GPU aside: ten ticks, and at
    /// least a second, so a merely slow driver call is not mistaken for a hang.
    /// </summary>
    public TimeSpan HangThreshold => TimeSpan.FromTicks(Math.Max(10 * _fast.Ticks, TimeSpan.TicksPerSecond));

    /// <summary>The memory sampling interval.</summary>
    public TimeSpan FastInterval => _fast;

    /// <summary>The interval of the other families.</summary>
    public TimeSpan SlowInterval => _slow;

    /// <summary>Starts one thread per GPU and one for host-wide collectors.</summary>
    public void Start()
    {
        if (_store.Devices.Count > 0 && _fastPerDevice)
        {
            StartFastLoop();
            StartThread("gputel-watchdog", WatchdogLoop);
        }

        foreach (GpuDevice device in _store.Devices)
        {
            StartThread($"gputel-gpu{device.Index}", () => DeviceLoop(device));
        }

        if (_collectors.Any(c => c.HostWide))
        {
            StartThread("gputel-host", HostLoop);
        }
    }

    /// <summary>
    /// Runs every collector once for every device and the host, on the calling thread: used by
    /// one-shot commands (<c>gputel devices</c>) and benchmarks.
    /// </summary>
    public void SampleOnce()
    {
        var output = new CollectorOutput();
        foreach (GpuDevice device in _store.Devices)
        {
            for (int c = 0; c < _collectors.Count; c++)
            {
                if (!_collectors[c].HostWide)
                {
                    Run(c, device, output);
                }
            }
        }

        RunHost(output);
    }

    private void StartThread(string name, ThreadStart body)
    {
        var thread = new Thread(body) { IsBackground = true, Name = name };
        lock (_threads)
        {
            _threads.Add(thread);
        }

        thread.Start();
    }

    private void StartFastLoop()
    {
        int generation = Interlocked.Increment(ref _fastGeneration);
        StartThread($"gputel-memory-{generation}", () => FastLoop(generation));
    }

    private void FastLoop(int generation)
    {
        var output = new CollectorOutput();
        long fastTicks = ToTicks(_fast), slowTicks = ToTicks(_slow);
        long next = Stopwatch.GetTimestamp();
        long[] nextProbe = new long[_store.Devices.Count];
        while (!_stop.IsCancellationRequested)
        {
            long now = Stopwatch.GetTimestamp();
            TimeSpan lag = Stopwatch.GetElapsedTime(next, now);
            foreach (GpuDevice device in _store.Devices)
            {
                int slot = device.Slot;
                // A lost device is probed at the regular interval, not hammered every tick.
                if (Volatile.Read(ref _setAside[slot]) || (!_store.IsUp(slot) && now < nextProbe[slot]))
                {
                    continue;
                }

                _store.RecordLag(slot, lag);
                lock (_fastGate)
                {
                    _fastSlot = slot;
                    _fastCallStarted = Stopwatch.GetTimestamp();
                }

                RunCadence(Cadence.Fast, device, output);
                lock (_fastGate)
                {
                    _fastSlot = -1;
                    if (generation != _fastGeneration)
                    {
                        // The watchdog replaced this thread while the call hung: hand the GPU back and stop.
                        _setAside[slot] = false;
                        _log($"GPU {device.Index}: the hung memory call returned; sampling it again");
                        return;
                    }
                }

                nextProbe[slot] = now + slowTicks;
            }

            next = Next(next, fastTicks);
            // A plain sleep: waiting on the stop event costs several times more CPU per wake-up,
            // which at 100 wake-ups a second is most of the agent's budget. Stop is seen a tick later.
            TimeSpan wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
            if (wait > TimeSpan.Zero)
            {
                Thread.Sleep(wait);
            }
        }
    }

    private void WatchdogLoop()
    {
        long threshold = ToTicks(HangThreshold);
        while (!_stop.IsCancellationRequested)
        {
            lock (_fastGate)
            {
                if (_fastSlot >= 0 && Stopwatch.GetTimestamp() - _fastCallStarted > threshold && !_stop.IsCancellationRequested)
                {
                    GpuDevice device = _store.Devices[_fastSlot];
                    _setAside[_fastSlot] = true;
                    _store.ClearMemory(_fastSlot);
                    _fastSlot = -1;
                    _log($"GPU {device.Index}: a memory call has not returned for {HangThreshold.TotalSeconds:0.#} s; sampling the other GPUs without it");
                    StartFastLoop();
                }
            }

            _stop.Token.WaitHandle.WaitOne(HangThreshold / 4);
        }
    }

    private void DeviceLoop(GpuDevice device)
    {
        var output = new CollectorOutput();
        long next = Stopwatch.GetTimestamp();
        while (!_stop.IsCancellationRequested)
        {
            // Without a memory thread nothing else would probe a lost GPU: its own runs do, at this interval.
            if (_store.IsUp(device.Slot) || !_fastPerDevice)
            {
                RunCadence(Cadence.Slow, device, output);
            }

            next = Next(next, ToTicks(_slow));
            Sleep(next);
        }
    }

    private void HostLoop()
    {
        var output = new CollectorOutput();
        long next = Stopwatch.GetTimestamp();
        while (!_stop.IsCancellationRequested)
        {
            RunHost(output);
            next = Next(next, ToTicks(_slow));
            Sleep(next);
        }
    }

    private void RunCadence(Cadence cadence, GpuDevice device, CollectorOutput output)
    {
        for (int c = 0; c < _collectors.Count; c++)
        {
            if (_collectors[c].Cadence == cadence && !_collectors[c].HostWide)
            {
                Run(c, device, output);
            }
        }
    }

    private void RunHost(CollectorOutput output)
    {
        for (int c = 0; c < _collectors.Count; c++)
        {
            if (_collectors[c].HostWide)
            {
                Run(c, null, output);
            }
        }
    }

    /// <summary>One run of one collector, with the failure handling every collector shares.</summary>
    private void Run(int c, GpuDevice? device, CollectorOutput output)
    {
        int slot = device?.Slot ?? _store.HostSlot;
        long start = Stopwatch.GetTimestamp();
        string? error = null;
        output.Clear();
        try
        {
            _collectors[c].Collect(device, output);
            if (device is not null && !_store.IsUp(device.Slot) && Answers(device) && _store.SetUp(device.Slot, true))
            {
                _log($"GPU {device.Index} ({device.Uuid}) answers again");
            }
        }
        catch (NvmlException e) when (e.IsDeviceLost && device is not null)
        {
            // Not a collector failure: the device is down. Serve no stale values for it.
            output.Clear();
            _store.ClearMemory(device.Slot);
            if (_store.SetUp(device.Slot, false))
            {
                _log($"GPU {device.Index} ({device.Uuid}) is lost: {e.Message}; retrying every {_slow.TotalSeconds:0.###} s");
            }
        }
        catch (Exception e)
        {
            // Whatever one collector does wrong, the others and the agent go on.
            output.Clear();
            error = e.Message;
        }

        long completed = Environment.TickCount64;
        // The memory collector's values live in the store's windows; its status is published at
        // most every 250 ms (or at once when it changes) so the 10 ms path allocates nothing.
        bool fast = _collectors[c].Cadence == Cadence.Fast;
        int failed = output.Failures.Count;
        if (!fast || error != _lastError[c, slot] || failed != _lastFailedReadings[c, slot]
            || completed - _lastPublished[c, slot] >= 250 || _store.Get(c, slot) is null)
        {
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            _store.Publish(c, slot, new CollectorResult(
                output.Readings.ToArray(), output.Processes.ToArray(), error is null, seconds, completed, error, failed));
            _lastPublished[c, slot] = completed;
            _lastFailedReadings[c, slot] = failed;
        }

        ReportChange(c, slot, device, error);
        // A run that failed whole or found its GPU lost read nothing: it says nothing of single readings.
        if ((failed > 0 || Volatile.Read(ref _failingOwned[c, slot]) > 0) && error is null && (device is null || _store.IsUp(slot)))
        {
            ReportReadings(c, slot, device, output.Failures);
        }

        foreach (string note in output.Notes)
        {
            _log($"{(device is null ? "host" : $"GPU {device.Index}")}: {note}");
        }
    }

    /// <summary>
    /// Whether a GPU that is down answers the driver again. A run that succeeds proves nothing by
    /// itself: xid reads a watcher, and gpm makes no call once it knows GPM is unsupported.
    /// </summary>
    private static bool Answers(GpuDevice device) => !NvmlException.MeansDeviceLost(device.Handle.TryGetName(out _));

    private void ReportChange(int c, int slot, GpuDevice? device, string? error)
    {
        if (_lastError[c, slot] == error)
        {
            return;
        }

        string where = device is null ? "host" : $"GPU {device.Index}";
        _log(error is null
            ? $"collector {_collectors[c].Name} on {where} works again"
            : $"collector {_collectors[c].Name} on {where} failed: {error}");
        _lastError[c, slot] = error;
    }

    /// <summary>
    /// Logs a reading the first time it fails (on any device) and once when it works again on the
    /// device that reported it; a reading that keeps failing is not logged again on every run.
    /// </summary>
    private void ReportReadings(int c, int slot, GpuDevice? device, List<ReadingFailure> failures)
    {
        string Where() => device is null ? "host" : $"GPU {device.Index}";
        lock (_failingGate)
        {
            foreach (ReadingFailure failure in failures)
            {
                if (_failingReadings.TryAdd((c, failure.Reading), slot))
                {
                    _failingOwned[c, slot]++;
                    _log($"collector {_collectors[c].Name} on {Where()}: reading {failure.Message}; its other readings are still served");
                }
            }

            if (_failingOwned[c, slot] == 0)
            {
                return;
            }

            // A reading that keeps failing at the 10 ms cadence must cost no allocation here.
            List<string>? recovered = null;
            foreach (((int collector, string reading), int owner) in _failingReadings)
            {
                if (collector == c && owner == slot && !Failed(failures, reading))
                {
                    (recovered ??= []).Add(reading);
                }
            }

            foreach (string reading in recovered ?? [])
            {
                _failingReadings.Remove((c, reading));
                _failingOwned[c, slot]--;
                _log($"collector {_collectors[c].Name} on {Where()}: reading {reading} works again");
            }
        }
    }

    private static bool Failed(List<ReadingFailure> failures, string reading)
    {
        foreach (ReadingFailure failure in failures)
        {
            if (failure.Reading == reading)
            {
                return true;
            }
        }

        return false;
    }

    private static long ToTicks(TimeSpan interval) => (long)(interval.TotalSeconds * Stopwatch.Frequency);

    // Keeps the schedule on its grid; after a stall, skips the missed slots instead of bursting.
    private static long Next(long previous, long interval)
    {
        long next = previous + interval;
        long now = Stopwatch.GetTimestamp();
        return next > now ? next : now + interval;
    }

    private void Sleep(long until)
    {
        TimeSpan wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), until);
        if (wait > TimeSpan.Zero)
        {
            _stop.Token.WaitHandle.WaitOne(wait);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _stop.Cancel();
        bool allStopped = true;
        Thread[] threads;
        lock (_threads)
        {
            threads = [.. _threads];
        }

        foreach (Thread thread in threads)
        {
            // A thread stuck in a hung driver call is a background thread: it does not keep the process alive.
            allStopped &= thread.Join(TimeSpan.FromSeconds(2));
        }

        // A thread still inside a hung call will look at the token when the call returns; keep it alive then.
        if (allStopped)
        {
            _stop.Dispose();
        }
    }
}
