namespace Gputel.Profiler.Memory;

/// <summary>
/// The allocator's high-water mark inside a phase. glibc keeps no high-water mark, so a background
/// thread reads the in-use figure every 10 ms while a phase runs (and sleeps otherwise). Each read
/// takes malloc's lock and each wake-up costs CPU: at 1 ms the sampler cost 6% of a training step
/// on a 2-core machine (docs/BENCHMARKS.md). A peak shorter than the interval can be missed; the
/// end-of-phase figures are exact.
/// </summary>
internal sealed class PeakSampler : IDisposable
{
    private readonly Func<long?> _read;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _running = new(false);
    private readonly CancellationTokenSource _stop = new();
    private long _peak;

    public PeakSampler(Func<long?> read)
    {
        _read = read;
        _thread = new Thread(Run) { IsBackground = true, Name = "gputel-peak" };
        _thread.Start();
    }

    public void Start()
    {
        Interlocked.Exchange(ref _peak, _read() ?? 0);
        _running.Set();
    }

    public long Stop()
    {
        _running.Reset();
        Sample();
        return Interlocked.Read(ref _peak);
    }

    /// <summary>Takes one sample now, while a phase runs.</summary>
    public void SampleNow()
    {
        if (_running.IsSet)
        {
            Sample();
        }
    }

    private void Run()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                _running.Wait(_stop.Token);
                Sample();
                Thread.Sleep(10);
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    private void Sample()
    {
        long now = _read() ?? 0;
        long seen;
        while (now > (seen = Interlocked.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, seen) != seen)
        {
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join(TimeSpan.FromSeconds(1));
    }
}
