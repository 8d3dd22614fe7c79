namespace Gputel.Collector.Exposition;

/// <summary>
/// The bytes of one rendered exposition, held until disposed: the same bytes go to every scraper
/// until the store changes, and the buffer is reused once the last scraper holding it is done.
/// Dispose it exactly once, after the bytes have been written.
/// </summary>
public readonly struct ExpositionLease : IDisposable
{
    private readonly RenderedExposition? _rendered;

    internal ExpositionLease(RenderedExposition rendered, ExpositionEncoding encoding)
    {
        _rendered = rendered;
        Encoding = encoding;
    }

    /// <summary>How <see cref="Body"/> is encoded.</summary>
    public ExpositionEncoding Encoding { get; }

    /// <summary>The body, valid until the lease is disposed.</summary>
    public ReadOnlyMemory<byte> Body => _rendered is null ? ReadOnlyMemory<byte>.Empty : _rendered.Bytes(Encoding);

    /// <summary>Gives the body back.</summary>
    public void Dispose() => _rendered?.Release();
}
