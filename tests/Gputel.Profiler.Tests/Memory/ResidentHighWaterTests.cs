using System.Runtime.InteropServices;
using Gputel.Profiler.Memory;

namespace Gputel.Profiler.Tests.Memory;

public sealed class ResidentHighWaterTests
{
    private const int BufferBytes = 48 << 20;

    /// <summary>The mark, or the test skipped with the reason where this kernel has none to reset.</summary>
    private static ResidentHighWater Open(Func<long?>? maxResident = null)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the resident high-water mark is Linux's");
        var mark = new ResidentHighWater(maxResident);
        if (!mark.Available)
        {
            mark.Dispose();
            Assert.Skip("this kernel does not let the process reset its resident mark");
        }

        return mark;
    }

    /// <summary>Maps, touches and unmaps a buffer: resident for a moment only.</summary>
    private static unsafe void TouchAndFree() => Unmap(MapAndTouch());

    /// <summary>
    /// A buffer of fresh pages, every one touched. Mapped directly rather than through malloc, which
    /// may serve even 48 MiB from memory its heap already holds (resident, so the mark would not move).
    /// </summary>
    private static unsafe byte* MapAndTouch()
    {
        const int ProtReadWrite = 0x1 | 0x2, MapPrivateAnonymous = 0x02 | 0x20;
        byte* buffer = (byte*)mmap(null, BufferBytes, ProtReadWrite, MapPrivateAnonymous, -1, 0);
        Assert.True(buffer != (byte*)-1, "mmap failed");
        for (int i = 0; i < BufferBytes; i += 4096)
        {
            buffer[i] = 1;
        }

        return buffer;
    }

    private static unsafe void Unmap(byte* buffer) => Assert.Equal(0, munmap(buffer, BufferBytes));

    [DllImport("libc")]
    private static extern unsafe void* mmap(void* address, nint length, int protection, int flags, int fd, nint offset);

    [DllImport("libc")]
    private static extern unsafe int munmap(void* address, nint length);

    [Fact]
    public void A_buffer_freed_before_the_read_still_shows_and_a_reset_forgets_it()
    {
        using ResidentHighWater mark = Open();

        long start = mark.Reset()!.Value;
        TouchAndFree();
        long high = mark.HighWater()!.Value;
        Assert.InRange(high - start, BufferBytes - (4L << 20), BufferBytes + (16L << 20));

        // Reset again: the freed buffer is forgotten, the mark starts from the resident size now.
        long again = mark.Reset()!.Value;
        Assert.True(again < high - (BufferBytes / 2), $"after the reset the resident size is {again}, the old mark {high}");
        // getrusage reads the kernel's per-CPU counters unsummed, statm sums them: a few hundred KB
        // either way, where a mark not reset would be the whole buffer above.
        Assert.InRange(mark.HighWater()!.Value - again, -(4L << 20), 4L << 20);
    }

    [Fact]
    public void The_system_call_gives_the_status_files_mark_unless_an_inherited_one_is_higher()
    {
        using ResidentHighWater mark = Open();

        long start = mark.Reset()!.Value;
        bool readsRusage = mark.ReadsRusage;
        TouchAndFree();
        long fromCall = ResidentHighWater.MaxResident()!.Value;
        long fromStatus = mark.StatusHighWater()!.Value;
        Assert.True(fromStatus - start >= BufferBytes - (4L << 20), $"the status file's mark rose {fromStatus - start} bytes");
        // getrusage never reports less than the mark (it may add an inherited one).
        Assert.True(fromCall >= fromStatus - (1L << 20), $"getrusage read {fromCall}, the status file {fromStatus}");
        if (readsRusage)
        {
            Assert.InRange(fromCall - fromStatus, -(1L << 20), 1L << 20);
        }
        else
        {
            // Started by a larger process (fork or vfork, then exec): getrusage still holds that
            // one's mark, which the reset could not clear, so the mark is read from the status file.
            Assert.InRange(mark.HighWater()!.Value - mark.StatusHighWater()!.Value, -(1L << 20), 1L << 20);
        }
    }

    [Fact]
    public void An_inherited_mark_above_the_process_sends_the_read_to_the_status_file()
    {
        // getrusage as a process spawned by a 64 GiB launcher would see it: never below that.
        long inherited = 64L << 30;
        using ResidentHighWater mark = Open(() => Math.Max(inherited, ResidentHighWater.MaxResident() ?? 0));

        long start = mark.Reset()!.Value;
        Assert.False(mark.ReadsRusage);
        // However large the process grows below it, the inherited mark stays the lowest figure read.
        Assert.False(mark.Reset() is null || mark.ReadsRusageAlone);
        start = mark.Reset()!.Value;
        TouchAndFree();
        long high = mark.HighWater()!.Value;
        Assert.InRange(high - start, BufferBytes - (4L << 20), BufferBytes + (16L << 20));
    }

    [Fact]
    public unsafe void Once_the_process_grows_past_every_inherited_mark_a_reset_needs_only_the_system_call()
    {
        // getrusage as a process that inherited no mark answers: its own mark since the last reset.
        ResidentHighWater? self = null;
        using ResidentHighWater mark = Open(() => self?.StatusHighWater());
        self = mark;

        long first = mark.Reset()!.Value;
        // Nothing read before bounds an inherited mark yet: the first reset checks with statm.
        Assert.False(mark.ReadsRusageAlone);
        byte* held = MapAndTouch();
        try
        {
            long start = mark.Reset()!.Value;
            Assert.True(mark.ReadsRusageAlone, $"the reset read {start}, the first {first}");
            Assert.InRange(start - first, BufferBytes - (4L << 20), BufferBytes + (16L << 20));
            TouchAndFree();
            Assert.InRange(mark.HighWater()!.Value - start, BufferBytes - (4L << 20), BufferBytes + (16L << 20));
        }
        finally
        {
            Unmap(held);
        }
    }

    [Fact]
    public unsafe void An_inherited_mark_between_the_process_sizes_is_trusted_only_once_the_process_is_above_it()
    {
        // A launcher's mark 24 MiB above the process now: getrusage answers the larger of the two.
        long inherited = Environment.WorkingSet + (24L << 20);
        ResidentHighWater? self = null;
        using ResidentHighWater mark = Open(() => self?.StatusHighWater() is { } own ? Math.Max(own, inherited) : null);
        self = mark;

        // Below the inherited mark: the reset cannot tell it from the process's own, and the
        // resident size read from statm shows the figure is not the process's: the status file it is.
        long below = mark.Reset()!.Value;
        Assert.False(mark.ReadsRusageAlone);
        Assert.False(mark.ReadsRusage, $"resident {below}, inherited {inherited}");
        byte* held = MapAndTouch();
        try
        {
            // 48 MiB more puts the process above it: the system call alone is trusted.
            long start = mark.Reset()!.Value;
            Assert.True(mark.ReadsRusageAlone, $"the reset read {start}, the inherited mark is {inherited}");
            TouchAndFree();
            Assert.InRange(mark.HighWater()!.Value - start, BufferBytes - (4L << 20), BufferBytes + (16L << 20));
        }
        finally
        {
            Unmap(held);
        }

        // Back below it: the inherited mark is read again, and it is not trusted.
        mark.Reset();
        Assert.False(mark.ReadsRusageAlone);
    }
}
