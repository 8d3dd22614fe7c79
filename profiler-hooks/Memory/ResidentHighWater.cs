using System.Buffers.Text;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Gputel.Profiler.Memory;

/// <summary>
/// The kernel's high-water mark of this process's resident memory, which Linux lets a process
/// reset to its current size by writing <c>5</c> to <c>/proc/self/clear_refs</c>. Large tensors are
/// mmapped by glibc and touched when written, so their growth inside a phase shows in this mark
/// however briefly they live: it catches the millisecond peaks a sampler misses.
/// The mark is read through <c>getrusage</c> (<c>ru_maxrss</c>, the same kernel figure as
/// <c>VmHWM</c> in <c>/proc/self/status</c>): a system call of about a quarter of a microsecond,
/// where formatting the whole status file cost 18-40 µs in a training process. <c>ru_maxrss</c> is
/// also at least the mark the process inherited when it was started (exec keeps the mark of the
/// process it replaces: a large launcher's, after <c>vfork</c>), which no reset clears.
/// <para>
/// That inherited mark is a constant, and every <c>ru_maxrss</c> read is at least it, so the lowest
/// figure read so far (right after a reset, or early in the process: <see cref="NoteStartingMark"/>)
/// bounds it. A reset whose figure is above that bound reads the process's own resident size, and the
/// phase is measured by the system call alone. A reset at or below it cannot tell the two apart: it
/// reads the resident size from <c>statm</c>, and where the figure does not match, the phase reads the
/// status file instead.
/// </para>
/// The files stay open and are read with positioned reads into a stack buffer.
/// </summary>
internal sealed partial class ResidentHighWater : IDisposable
{
    // ru_maxrss may sit this far above the resident size read after a reset and still be taken as
    // the kernel's fresh mark: other threads fault pages in between the two reads, and getrusage
    // reads the kernel's per-CPU resident counters without summing them (statm and status sum
    // them; a few hundred KB apart on 2 cores). An inherited mark hiding inside it makes a phase's
    // growth read at most this much high; a machine whose counters drift further apart falls back
    // to the status file, the slower read of the same mark.
    private const long Slack = 1024 * 1024;
    private static readonly byte Five = (byte)'5';
    private static readonly long PageSize = Environment.SystemPageSize;
    private readonly SafeFileHandle? _clearRefs;
    private readonly SafeFileHandle? _statm;
    private readonly SafeFileHandle? _status;
    private static long s_startingMark = long.MaxValue;
    private readonly Func<long?> _maxResident;
    private readonly bool _ownFigure;
    private long? _inheritedBound;
    private bool _fromRusage;
    private bool _rusageAlone;

    /// <summary>
    /// Opens the kernel's files. <paramref name="maxResident"/> stands in for <c>getrusage</c>'s
    /// figure (tests give one with an inherited mark above the process's own).
    /// </summary>
    public ResidentHighWater(Func<long?>? maxResident = null)
    {
        _maxResident = maxResident ?? MaxResident;
        _ownFigure = maxResident is null;
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

    /// <summary>
    /// Notes <c>getrusage</c>'s mark now, early in the process (before libtorch loads), while the
    /// process's own resident size is still small: a bound on any inherited mark that later resets,
    /// once the process has grown past it, can rely on without reading <c>statm</c>.
    /// </summary>
    public static void NoteStartingMark()
    {
        if (MaxResident() is not { } mark)
        {
            return;
        }

        long seen;
        while (mark < (seen = Interlocked.Read(ref s_startingMark)) && Interlocked.CompareExchange(ref s_startingMark, mark, seen) != seen)
        {
        }
    }

    /// <summary>Whether this kernel lets the process reset its mark (some sandboxes forbid writing <c>clear_refs</c>).</summary>
    public static bool CanReset => CanResetOnce.Value;

    private static readonly Lazy<bool> CanResetOnce = new(() =>
    {
        // Opening clear_refs is not enough: a sandbox may refuse the write itself.
        using var mark = new ResidentHighWater();
        return mark.Available && mark.Reset() is not null;
    });

    /// <summary>Whether this kernel lets the process read and reset the mark.</summary>
    public bool Available => _clearRefs is not null;

    /// <summary>Resets the mark to the current resident size and returns that size, or null where the kernel does not allow it.</summary>
    public long? Reset()
    {
        if (_clearRefs is null || _statm is null)
        {
            return null;
        }

        _fromRusage = _rusageAlone = false;
        try
        {
            // A plain pwrite: RandomAccess.Write's checks cost another microsecond on each reset
            // (2.6 µs against 1.7 µs in a training step on the benchmark machine).
            if (pwrite(_clearRefs, in Five, 1, 0) != 1)
            {
                return null;
            }

            if (_maxResident() is { } fresh)
            {
                // Every figure read is at least the inherited mark: the lowest one bounds it.
                _inheritedBound = _inheritedBound is { } known ? Math.Min(known, fresh)
                    : _ownFigure ? Math.Min(fresh, Interlocked.Read(ref s_startingMark)) : fresh;
                if (fresh > _inheritedBound)
                {
                    // Above any inherited mark: this is the resident size the reset set the mark to.
                    _fromRusage = _rusageAlone = true;
                    return fresh;
                }
            }

            // statm: "size resident shared ..." in pages.
            Span<byte> buffer = stackalloc byte[128];
            int read = RandomAccess.Read(_statm, buffer, 0);
            ReadOnlySpan<byte> text = buffer[..read];
            int space = text.IndexOf((byte)' ');
            if (space <= 0 || !Utf8Parser.TryParse(text[(space + 1)..], out long pages, out _))
            {
                return null;
            }

            long resident = pages * PageSize;
            _fromRusage = _maxResident() is { } mark && mark <= resident + Slack;
            return resident;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Whether the last <see cref="Reset"/> found <c>getrusage</c> reporting the fresh mark (else the status file is read).</summary>
    internal bool ReadsRusage => _fromRusage;

    /// <summary>Whether the last <see cref="Reset"/> knew that from the system call alone, without reading <c>statm</c>.</summary>
    internal bool ReadsRusageAlone => _rusageAlone;

    /// <summary>The highest resident size since the last <see cref="Reset"/>, or null when unknown.</summary>
    public long? HighWater() => _fromRusage ? _maxResident() : StatusHighWater();

    /// <summary><c>VmHWM</c> from <c>/proc/self/status</c>: the mark alone, without any inherited one.</summary>
    internal long? StatusHighWater()
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

    /// <summary>
    /// <c>ru_maxrss</c> of the calling thread's process, in bytes: the larger of the mark and the one
    /// inherited at start. RUSAGE_THREAD answers it without summing every thread's times.
    /// </summary>
    internal static long? MaxResident()
    {
        const int RusageThread = 1;
        return OperatingSystem.IsLinux() && getrusage(RusageThread, out RUsage usage) == 0 ? usage.MaxResidentKilobytes * 1024 : null;
    }

    [LibraryImport("libc")]
    private static partial nint pwrite(SafeFileHandle fd, in byte buffer, nint count, long offset);

    [LibraryImport("libc")]
    private static partial int getrusage(int who, out RUsage usage);

    /// <summary>struct rusage on 64-bit Linux: two timevals, then fourteen longs, ru_maxrss first.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UserSeconds;
        public long UserMicroseconds;
        public long SystemSeconds;
        public long SystemMicroseconds;
        public long MaxResidentKilobytes;
        public long SharedText;
        public long UnsharedData;
        public long UnsharedStack;
        public long MinorFaults;
        public long MajorFaults;
        public long Swaps;
        public long BlockInputs;
        public long BlockOutputs;
        public long MessagesSent;
        public long MessagesReceived;
        public long Signals;
        public long VoluntarySwitches;
        public long InvoluntarySwitches;
    }

    public void Dispose()
    {
        _clearRefs?.Dispose();
        _statm?.Dispose();
        _status?.Dispose();
    }
}
