using System.Buffers.Text;
using Microsoft.Win32.SafeHandles;

namespace Gputel.Profiler.Memory;

/// <summary>
/// The kernel's high-water mark of this process's resident memory (<c>VmHWM</c>), which Linux
/// lets a process reset to its current size by writing <c>5</c> to <c>/proc/self/clear_refs</c>.
/// Large tensors are mmapped by glibc and touched when written, so their growth inside a phase
/// shows in this mark however briefly they live: it catches the millisecond peaks a sampler misses.
/// The three files stay open and are read with positioned reads into a stack buffer, so a phase
/// pays a few microseconds, not the cost of opening and splitting text.
/// </summary>
internal sealed class ResidentHighWater : IDisposable
{
    private static readonly byte[] Five = "5"u8.ToArray();
    private static readonly long PageSize = Environment.SystemPageSize;
    private readonly SafeFileHandle? _clearRefs;
    private readonly SafeFileHandle? _statm;
    private readonly SafeFileHandle? _status;

    public ResidentHighWater()
    {
        try
        {
            _clearRefs = File.OpenHandle("/proc/self/clear_refs", FileMode.Open, FileAccess.Write);
            _statm = File.OpenHandle("/proc/self/statm", FileMode.Open, FileAccess.Read);
            _status = File.OpenHandle("/proc/self/status", FileMode.Open, FileAccess.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            Dispose();
            _clearRefs = _statm = _status = null;
        }
    }

    /// <summary>Whether this kernel lets the process read and reset the mark.</summary>
    public bool Available => _clearRefs is not null;

    /// <summary>Resets the mark to the current resident size and returns that size, or null where the kernel does not allow it.</summary>
    public long? Reset()
    {
        if (_clearRefs is null || _statm is null)
        {
            return null;
        }

        try
        {
            RandomAccess.Write(_clearRefs, Five, 0);
            // statm: "size resident shared ..." in pages.
            Span<byte> buffer = stackalloc byte[128];
            int read = RandomAccess.Read(_statm, buffer, 0);
            ReadOnlySpan<byte> text = buffer[..read];
            int space = text.IndexOf((byte)' ');
            return space > 0 && Utf8Parser.TryParse(text[(space + 1)..], out long pages, out _) ? pages * PageSize : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The highest resident size since the last <see cref="Reset"/>, or null when unknown.</summary>
    public long? HighWater()
    {
        if (_status is null)
        {
            return null;
        }

        try
        {
            Span<byte> buffer = stackalloc byte[4096];
            int read = RandomAccess.Read(_status, buffer, 0);
            ReadOnlySpan<byte> text = buffer[..read];
            int at = text.IndexOf("VmHWM:"u8);
            if (at < 0)
            {
                return null;
            }

            // "VmHWM:\t  123456 kB"
            ReadOnlySpan<byte> rest = text[(at + 6)..].TrimStart(" \t"u8);
            return Utf8Parser.TryParse(rest, out long kilobytes, out _) ? kilobytes * 1024 : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        _clearRefs?.Dispose();
        _statm?.Dispose();
        _status?.Dispose();
    }
}
