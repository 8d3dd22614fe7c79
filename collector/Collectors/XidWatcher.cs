using System.Collections.Concurrent;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;

namespace Gputel.Collector.Collectors;

/// <summary>
/// Waits on an NVML event set for Xid critical errors on its own thread (the wait blocks) and
/// counts them per device and code. The <see cref="XidCollector"/> reports the counts.
/// </summary>
public sealed class XidWatcher : IDisposable
{
    private readonly NvmlEventSet? _set;
    private readonly Dictionary<IntPtr, int> _indexByHandle;
    private readonly ConcurrentDictionary<(int Device, ulong Xid), long> _counts = new();
    private readonly ConcurrentDictionary<int, ulong> _last = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread? _thread;

    /// <summary>Registers the devices that support Xid events and starts waiting.</summary>
    public XidWatcher(NvmlDriver driver, IReadOnlyList<GpuDevice> devices)
    {
        ArgumentNullException.ThrowIfNull(driver);
        ArgumentNullException.ThrowIfNull(devices);
        _indexByHandle = devices.ToDictionary(d => d.Handle.Handle, d => d.Slot);
        try
        {
            _set = driver.CreateXidEventSet(devices.Select(d => d.Handle));
        }
        catch (NvmlException e)
        {
            Error = e.Message;
            return;
        }

        if (_set.Registered.Count == 0)
        {
            return;
        }

        _thread = new Thread(Run) { IsBackground = true, Name = "gputel-xid" };
        _thread.Start();
    }

    /// <summary>Why the event set could not be created, or null.</summary>
    public string? Error { get; }

    /// <summary>True when at least one device delivers Xid events.</summary>
    public bool Supported => _thread is not null;

    /// <summary>Whether this device is registered for Xid events.</summary>
    public bool IsWatched(GpuDevice device) =>
        device is not null && _set is not null && _set.Registered.Contains(device.Handle);

    /// <summary>Counts so far for one device, by Xid code.</summary>
    public IEnumerable<(ulong Xid, long Count)> Counts(int device) =>
        _counts.Where(kv => kv.Key.Device == device).Select(kv => (kv.Key.Xid, kv.Value));

    /// <summary>The last Xid code seen on a device, or null.</summary>
    public ulong? Last(int device) => _last.TryGetValue(device, out ulong xid) ? xid : null;

    private void Run()
    {
        while (!_stop.IsCancellationRequested)
        {
            NvmlReturn rc = _set!.Wait(500, out NvmlDevice device, out ulong xid);
            if (rc == NvmlReturn.Success)
            {
                if (_indexByHandle.TryGetValue(device.Handle, out int index))
                {
                    _counts.AddOrUpdate((index, xid), 1, static (_, n) => n + 1);
                    _last[index] = xid;
                }
            }
            else if (rc != NvmlReturn.Timeout)
            {
                // A lost GPU or a driver hiccup: back off instead of spinning on the error.
                _stop.Token.WaitHandle.WaitOne(1000);
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _stop.Cancel();
        // A wait stuck in the driver keeps using the set and the token: free them only once it ended.
        if (_thread is null || _thread.Join(TimeSpan.FromSeconds(2)))
        {
            _set?.Dispose();
            _stop.Dispose();
        }
    }
}
