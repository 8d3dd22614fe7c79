using System.Collections.Concurrent;
using System.IO.Compression;

namespace Gputel.Collector.Exposition;

/// <summary>
/// One rendered exposition, shared by every scrape until the store changes: its text, its gzip
/// form made on the first request that asks for it, and a count of who holds it. The exposition
/// holds one reference while the body is current and each scrape one while it writes; the last
/// release gives the buffers back to the pool, so a steady agent renders without new arrays (a
/// body of 8 GPUs is about 100 KB, which would be a large-object allocation each time).
/// </summary>
internal sealed class RenderedExposition
{
    private readonly ConcurrentBag<MemoryStream> _pool;
    private readonly MemoryStream _text;
    private MemoryStream? _gzip;
    private int _references = 1;

    public RenderedExposition(ConcurrentBag<MemoryStream> pool, MemoryStream text, long storeVersion, long renderedAt, bool peakPending)
    {
        _pool = pool;
        _text = text;
        StoreVersion = storeVersion;
        RenderedAt = renderedAt;
        PeakPending = peakPending;
    }

    /// <summary>The store version read before rendering.</summary>
    public long StoreVersion { get; }

    /// <summary>When it was rendered (<see cref="Environment.TickCount64"/>).</summary>
    public long RenderedAt { get; }

    /// <summary>
    /// Whether a memory peak in it is above the last sample: its window is closed, so the next
    /// scrape must render again to show the peak of the new window, even with no new sample.
    /// </summary>
    public bool PeakPending { get; }

    public bool HasGzip => Volatile.Read(ref _gzip) is not null;

    public ReadOnlyMemory<byte> Bytes(ExpositionEncoding encoding)
    {
        MemoryStream stream = encoding == ExpositionEncoding.Gzip
            ? Volatile.Read(ref _gzip) ?? throw new InvalidOperationException("no gzip body was made")
            : _text;
        return stream.GetBuffer().AsMemory(0, (int)stream.Length);
    }

    /// <summary>Makes the gzip form; called by one thread at a time (the exposition's render gate).</summary>
    public void Compress()
    {
        if (_gzip is not null)
        {
            return;
        }

        MemoryStream gzip = Rent(_pool);
        // Fastest: the text compresses about 10x even so, and the body is made again every few
        // scrapes under load.
        using (var zip = new GZipStream(gzip, CompressionLevel.Fastest, leaveOpen: true))
        {
            zip.Write(_text.GetBuffer(), 0, (int)_text.Length);
        }

        Volatile.Write(ref _gzip, gzip);
    }

    /// <summary>Takes a reference unless the last one is already gone (then its buffers may be reused).</summary>
    public bool TryAcquire()
    {
        int current = Volatile.Read(ref _references);
        while (current > 0)
        {
            int seen = Interlocked.CompareExchange(ref _references, current + 1, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            Return(_pool, _text);
            if (_gzip is not null)
            {
                Return(_pool, _gzip);
            }
        }
    }

    public static MemoryStream Rent(ConcurrentBag<MemoryStream> pool)
    {
        if (pool.TryTake(out MemoryStream? stream))
        {
            stream.SetLength(0);
            return stream;
        }

        return new MemoryStream(128 * 1024);
    }

    private static void Return(ConcurrentBag<MemoryStream> pool, MemoryStream stream)
    {
        // A few buffers cover the current body, the one slow scrapers still write and the gzip forms.
        if (pool.Count < 8)
        {
            pool.Add(stream);
        }
    }
}
