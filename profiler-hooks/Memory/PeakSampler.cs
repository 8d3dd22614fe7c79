namespace Gputel.Profiler.Memory;

/// <summary>
/// The allocator's high-water mark inside a phase. glibc keeps no high-water mark, so a background
/// thread reads the in-use figure every 10 ms while a phase that asks for it runs (the CPU truth
/// asks in forward only) and sleeps otherwise. Each read takes malloc's lock and walks its free
/// chunks, and each wake-up costs CPU: at 1 ms the sampler cost 6% of a training step on a 2-core
/// machine (docs/BENCHMARKS.md). A peak shorter than the interval can be missed here; the phase's
/// end reads, reads the loop offers at known peaks (<see cref="SampleNow"/>) and, where the truth
/// keeps it, the resident high-water mark (<see cref="ResidentHighWater"/>) see what it misses.
/// </summary>
internal sealed class PeakSampler : IDisposable
{
    private readonly Func<long?> _read;
    private readonly Thread? _thread;
    private readonly ManualResetEventSlim _running = new(false);
    private readonly CancellationTokenSource _stop = new();
    private long _peak;
    private volatile bool _open;

    /// <summary>
    /// Samples <paramref name="read"/> in the background while a phase runs when
    /// <paramref name="background"/> is set; otherwise only at the phase's ends and when asked
    /// (<see cref="SampleNow"/>), for truths that have a better way to see short peaks.
    /// </summary>
    public PeakSampler(Func<long?> read, bool background = true)
    {
        _read = read;
        if (background)
        {
            _thread = new Thread(Run) { IsBackground = true, Name = "gputel-peak" };
            _thread.Start();
        }
    }

    /// <summary>Starts a phase, sampling in the background unless told not to; returns the figure it starts from.</summary>
    public long Start(bool background = true)
    {
        long now = _read() ?? 0;
        Interlocked.Exchange(ref _peak, now);
        _open = true;
        if (background)
        {
            _running.Set();
        }

        return now;
    }

    /// <summary>Ends a phase: its peak, and the figure it ends at.</summary>
    public (long Peak, long Now) Stop()
    {
        _running.Reset();
        _open = false;
        long now = Sample();
        return (Interlocked.Read(ref _peak), now);
    }

    /// <summary>Takes one sample now, into the phase's peak while a phase runs; returns the figure read.</summary>
    public long? SampleNow() => _open ? Sample() : _read();

    private void Run()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                _running.Wait(_stop.Token);
                _ = Sample();
                Thread.Sleep(10);
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    private long Sample()
    {
        long now = _read() ?? 0;
        long seen;
        while (now > (seen = Interlocked.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, seen) != seen)
        {
        }

        return now;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread?.Join(TimeSpan.FromSeconds(1));
    }
}
