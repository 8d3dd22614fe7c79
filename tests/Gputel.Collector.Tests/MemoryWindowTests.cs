using Gputel.Collector.Nvml;
using Gputel.Collector.Store;

namespace Gputel.Collector.Tests;

public sealed class MemoryWindowTests
{
    private static MemoryInfo Used(ulong used) => new(100, 1, 100 - 1 - used, used);

    [Fact]
    public void Before_any_sample_there_is_nothing_to_read()
    {
        Assert.False(new MemoryWindow().TryRead(closeWindow: true, out _, out _));
    }

    [Fact]
    public void Peak_is_the_highest_sample_since_the_previous_read_and_last_is_the_latest()
    {
        var window = new MemoryWindow();
        window.Record(Used(10));
        window.Record(Used(70));
        window.Record(Used(20));

        Assert.True(window.TryRead(closeWindow: true, out MemoryInfo last, out ulong peak));
        Assert.Equal(20UL, last.Used);
        Assert.Equal(70UL, peak);
    }

    [Fact]
    public void Closing_the_window_forgets_the_old_peak()
    {
        var window = new MemoryWindow();
        window.Record(Used(70));
        window.Record(Used(20));
        window.TryRead(closeWindow: true, out _, out _);

        window.Record(Used(30));
        window.Record(Used(25));
        window.TryRead(closeWindow: true, out _, out ulong peak);

        Assert.Equal(30UL, peak);
    }

    [Fact]
    public void A_window_without_new_samples_reports_the_last_level_as_its_peak()
    {
        var window = new MemoryWindow();
        window.Record(Used(70));
        window.Record(Used(40));
        window.TryRead(closeWindow: true, out _, out _);

        window.TryRead(closeWindow: true, out MemoryInfo last, out ulong peak);

        Assert.Equal(40UL, last.Used);
        Assert.Equal(40UL, peak);
    }

    [Fact]
    public void Reading_without_closing_keeps_the_peak_for_the_next_scrape()
    {
        var window = new MemoryWindow();
        window.Record(Used(90));
        window.Record(Used(10));
        window.TryRead(closeWindow: false, out _, out ulong first);
        window.TryRead(closeWindow: true, out _, out ulong second);

        Assert.Equal(90UL, first);
        Assert.Equal(90UL, second);
    }

    [Fact]
    public void Clear_drops_every_value_so_a_lost_device_serves_nothing_stale()
    {
        var window = new MemoryWindow();
        window.Record(Used(50));
        window.Clear();

        Assert.False(window.TryRead(closeWindow: true, out _, out _));
    }

    [Fact]
    public void Concurrent_writer_and_reader_never_lose_the_maximum()
    {
        var window = new MemoryWindow();
        ulong maxSeen = 0;
        var writer = Task.Run(() =>
        {
            for (ulong i = 1; i <= 200_000; i++)
            {
                window.Record(Used(i % 1000 == 0 ? 999_999 : i % 97));
            }
        });
        while (!writer.IsCompleted)
        {
            window.TryRead(closeWindow: true, out _, out ulong peak);
            maxSeen = Math.Max(maxSeen, peak);
        }

        window.TryRead(closeWindow: true, out _, out ulong final);
        Assert.Equal(999_999UL, Math.Max(maxSeen, final));
    }
}
