
namespace Gputel.Profiler.Memory;

/// <summary>
/// The allocator's high-water mark inside a phase. glibc keeps no high-water mark, so a background
/// thread reads the in-use figure every 10 ms while a phase that asks for it runs (the CPU truth
/// asks in forward only with exact peaks, in every phase but zero_grad and a marked optimizer
/// step with sampled ones). Each read takes malloc's lock and walks its free chunks, and each wake-up
/// costs CPU: at 1 ms the sampler cost 6% of a training step on a 2-core machine
/// (docs/BENCHMARKS.md). A peak shorter than the interval can be missed here; the phase's end
/// reads, reads the loop offers at known peaks (<see cref="SampleNow"/>) and, where the truth keeps
/// it, the resident high-water mark (<see cref="ResidentHighWater"/>) see what it misses.
/// <para>
/// Wake-ups are what the sampler costs most: on the 2-core VM of docs/BENCHMARKS.md a thread's timed
/// sleep cost 40-60 µs of CPU per wake-up, ten times a read. So the thread keeps its own pace while
/// sampled phases come often (every 3 intervals or sooner: a small model's steps) and a phase start
/// only raises a flag; waking it at each start cost the training thread a system call and the
/// sampler a read that repeated the phase's own start read. Where sampled phases come further apart
/// (a large model's forward passes, or no phase for <c>parkAfter</c>), the thread parks between them
/// and the next start wakes it; its first sample then waits an interval, as every other does.
/// </para>
/// <para>
/// Each sample is kept only for the phase it was read in: the phase count is checked before the read
/// and again, under the lock that phase ends take, after it, so a read that straddles a phase's end
/// never lands in the next phase's peak.
/// </para>
/// </summary>
internal sealed class PeakSampler : IDisposable
{
    private static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan DefaultParkAfter = TimeSpan.FromSeconds(1);

    private readonly Func<long?> _read;
    private readonly Thread? _thread;
    private readonly TimeSpan _interval;
    private readonly long _parkAfterTicks;
    private readonly object _gate = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly CancellationTokenSource _stop = new();
    private long _peak;
    private long _phase;
    private bool _open;
    private readonly long _intervalTicks;
    private int _sampling;
    private int _parked;
    private long _lastSampledPhase;
    private long _lastSampledStart;
    private long _sampledCycle = long.MaxValue;
    private long _samples;
    private long _dropped;

    /// <summary>
    /// Samples <paramref name="read"/> in the background while a phase runs when
    /// <paramref name="background"/> is set; otherwise only at the phase's ends and when asked
    /// (<see cref="SampleNow"/>), for truths that have a better way to see short peaks.
    /// <paramref name="interval"/> and <paramref name="parkAfter"/> default to 10 ms and 1 s.
    /// </summary>
    public PeakSampler(Func<long?> read, bool background = true, TimeSpan? interval = null, TimeSpan? parkAfter = null)
    {
        _read = read;
        _interval = interval ?? DefaultInterval;
        _intervalTicks = (long)(_interval.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        _parkAfterTicks = (long)((parkAfter ?? DefaultParkAfter).TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        _lastSampledPhase = System.Diagnostics.Stopwatch.GetTimestamp();
        if (background)
        {
            _thread = new Thread(Run) { IsBackground = true, Name = "gputel-peak" };
            _thread.Start();
        }
    }

    /// <summary>Whether the background thread is parked, waiting for a sampled phase (for tests).</summary>
    internal bool Parked => Volatile.Read(ref _parked) == 1;

    /// <summary>Samples the background thread has kept in a phase's peak so far (for tests).</summary>
    internal long BackgroundSamples => Interlocked.Read(ref _samples);

    /// <summary>Background reads dropped because their phase ended while they ran (for tests).</summary>
    internal long DroppedSamples => Interlocked.Read(ref _dropped);

    /// <summary>
    /// Starts a phase, sampling in the background unless told not to; returns the figure it starts
    /// from: <paramref name="known"/> where the caller has it (the figure the last phase ended at,
    /// unchanged since), else a new read.
    /// </summary>
    public long Start(bool background = true, long? known = null)
    {
        long now = known ?? _read() ?? 0;
        lock (_gate)
        {
            _phase++;
            _peak = now;
            _open = true;
        }

        if (background && _thread is not null)
        {
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            if (_lastSampledStart != 0)
            {
                Volatile.Write(ref _sampledCycle, started - _lastSampledStart);
            }

            _lastSampledStart = started;
            // A full fence each side (here and where the thread parks): either the thread sees the
            // flag before it waits, or this sees it parked and wakes it.
            Interlocked.Exchange(ref _sampling, 1);
            if (Interlocked.CompareExchange(ref _parked, 0, 0) == 1)
            {
                _wake.Set();
            }
        }

        return now;
    }

    /// <summary>Ends a phase: its peak, and the figure it ends at.</summary>
    public (long Peak, long Now) Stop()
    {
        if (Volatile.Read(ref _sampling) == 1)
        {
            Volatile.Write(ref _sampling, 0);
            Volatile.Write(ref _lastSampledPhase, System.Diagnostics.Stopwatch.GetTimestamp());
        }

        long now = _read() ?? 0;
        lock (_gate)
        {
            _open = false;
            _peak = Math.Max(_peak, now);
            return (_peak, now);
        }
    }

    /// <summary>Takes one sample now, into the phase's peak while a phase runs; returns the figure read.</summary>
    public long? SampleNow()
    {
        long? now = _read();
        if (now is { } value)
        {
            lock (_gate)
            {
                if (_open)
                {
                    _peak = Math.Max(_peak, value);
                }
            }
        }

        return now;
    }

    private void Run()
    {
        CancellationToken stop = _stop.Token;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                if (Volatile.Read(ref _sampling) == 0 && ShouldPark())
                {
                    _wake.Reset();
                    Interlocked.Exchange(ref _parked, 1);
                    if (Volatile.Read(ref _sampling) == 0)
                    {
                        _wake.Wait(stop);
                    }

                    Interlocked.Exchange(ref _parked, 0);
                    continue;
                }

                // A plain sleep: a timed wait on an event cost half as much again per wake-up.
                Thread.Sleep(_interval);
                if (Volatile.Read(ref _sampling) == 1)
                {
                    SampleInBackground();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    /// <summary>Whether to wait for the next sampled phase's start rather than tick through to it.</summary>
    private bool ShouldPark() =>
        Volatile.Read(ref _sampledCycle) > 3 * _intervalTicks
        || System.Diagnostics.Stopwatch.GetTimestamp() - Volatile.Read(ref _lastSampledPhase) > _parkAfterTicks;

    private void SampleInBackground()
    {
        long phase;
        lock (_gate)
        {
            if (!_open)
            {
                return;
            }

            phase = _phase;
        }

        if (_read() is not { } now)
        {
            return;
        }

        lock (_gate)
        {
            // Still the phase it was read in: a read that began before the phase ended (or in an
            // earlier phase) is dropped rather than raise another phase's peak.
            if (_open && _phase == phase)
            {
                _peak = Math.Max(_peak, now);
                _samples++;
            }
            else
            {
                _dropped++;
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread?.Join(TimeSpan.FromSeconds(1));
    }
}
