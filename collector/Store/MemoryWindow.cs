using Gputel.Collector.Nvml;

namespace Gputel.Collector.Store;

/// <summary>
/// The high-frequency memory samples of one device between two scrapes: the last sample and
/// the highest used value since the previous scrape, so a spike shorter than the scrape interval
/// still shows. The sampler writes, the scrape reads; neither waits on NVML.
/// </summary>
public sealed class MemoryWindow
{
    private readonly Lock _gate = new();
    private MemoryInfo _last;
    private ulong _peak;
    private bool _hasLast;
    private bool _hasSampleInWindow;
    private long _version;

    /// <summary>
    /// Goes up with every sample recorded and every <see cref="Clear"/>: equal values mean the
    /// window has not changed, which lets a reader keep what it made from the last read.
    /// </summary>
    public long Version => Volatile.Read(ref _version);

    /// <summary>Records one sample.</summary>
    public void Record(MemoryInfo sample)
    {
        lock (_gate)
        {
            _last = sample;
            _hasLast = true;
            _version++;
            if (!_hasSampleInWindow || sample.Used > _peak)
            {
                _peak = sample.Used;
                _hasSampleInWindow = true;
            }
        }
    }

    /// <summary>Forgets everything, e.g. when the device is lost: no stale value is served.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _hasLast = false;
            _hasSampleInWindow = false;
            _version++;
        }
    }

    /// <summary>
    /// The last sample and the peak of the current window. With <paramref name="closeWindow"/>,
    /// a new window starts: its peak is the highest sample recorded after this call (or, if none
    /// comes before the next read, the last sample, since memory has stayed at that level).
    /// Returns false before the first sample.
    /// </summary>
    public bool TryRead(bool closeWindow, out MemoryInfo last, out ulong peak)
    {
        lock (_gate)
        {
            last = _last;
            peak = _hasSampleInWindow ? Math.Max(_peak, _last.Used) : _last.Used;
            if (closeWindow)
            {
                _hasSampleInWindow = false;
            }

            return _hasLast;
        }
    }
}
