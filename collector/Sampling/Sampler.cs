using System.Diagnostics;
using Gputel.Collector.Collectors;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Store;

namespace Gputel.Collector.Sampling;

/// <summary>
/// Runs the collectors on schedule and publishes their results to the store. Each GPU has its own
/// thread, so a slow or hung call on one device never delays the others, and the high-frequency
/// memory cadence is kept per device; host-wide collectors run on one more thread.
/// A lost GPU is marked down and re-probed at the regular interval until it answers again.
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

    /// <summary>Creates a sampler; <see cref="Start"/> begins sampling.</summary>
    /// <param name="store">Where results go; its collector names must match <paramref name="collectors"/>.</param>
    /// <param name="collectors">The enabled collectors.</param>
    /// <param name="fastInterval">The memory sampling interval (default 10 ms).</param>
    /// <param name="slowInterval">The interval of all other families (default 1 s).</param>
    /// <param name="log">Receives one line when a device is lost or comes back, or a collector starts or stops failing.</param>
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
    }

    /// <summary>The memory sampling interval.</summary>
    public TimeSpan FastInterval => _fast;

    /// <summary>The interval of the other families.</summary>
    public TimeSpan SlowInterval => _slow;

    /// <summary>Starts one thread per GPU and one for host-wide collectors.</summary>
    public void Start()
    {
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
        _threads.Add(thread);
        thread.Start();
    }

    private void DeviceLoop(GpuDevice device)
    {
        var output = new CollectorOutput();
        long nextFast = Stopwatch.GetTimestamp();
        long nextSlow = nextFast;
        long fastTicks = ToTicks(_fast), slowTicks = ToTicks(_slow);
        while (!_stop.IsCancellationRequested)
        {
            long now = Stopwatch.GetTimestamp();
            if (now >= nextFast)
            {
                _store.RecordLag(device.Slot, Stopwatch.GetElapsedTime(nextFast, now));
                RunCadence(Cadence.Fast, device, output);
                // A lost device is probed at the regular interval, not hammered every 10 ms.
                nextFast = Next(nextFast, _store.IsUp(device.Slot) ? fastTicks : slowTicks);
            }

            if (now >= nextSlow)
            {
                if (_store.IsUp(device.Slot))
                {
                    RunCadence(Cadence.Slow, device, output);
                }

                nextSlow = Next(nextSlow, slowTicks);
            }

            Sleep(Math.Min(nextFast, nextSlow));
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
            if (device is not null && _store.SetUp(device.Slot, true))
            {
                _log($"GPU {device.Index} ({device.Uuid}) answers again");
            }
        }
        catch (NvmlException e) when (e.IsDeviceLost && device is not null)
        {
            // Not a collector failure: the device is down. Serve no stale values for it.
            output.Clear();
            _store.Memory(device.Slot).Clear();
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

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        _store.Publish(c, slot, new CollectorResult(
            output.Readings.ToArray(), output.Processes.ToArray(), error is null, seconds, Environment.TickCount64, error));
        ReportChange(c, slot, device, error);
    }

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
        foreach (Thread thread in _threads)
        {
            // A thread stuck in a hung driver call is a background thread: it does not keep the process alive.
            thread.Join(TimeSpan.FromSeconds(2));
        }

        _stop.Dispose();
    }
}
