using Gputel.Profiler.Memory;

namespace Gputel.Profiler.Tests.Memory;

public sealed class PeakSamplerTests
{
    // Long enough for a loaded CI machine; the tests wait for events, they do not time them.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static void WaitFor(Func<bool> condition, string what) =>
        Assert.True(SpinWait.SpinUntil(condition, Patience), $"gave up waiting for {what}");

    private static bool OnSamplerThread => Thread.CurrentThread.Name == "gputel-peak";

    [Fact]
    public void A_background_sample_raises_the_open_phases_peak_and_the_ends_read_the_figure()
    {
        // The phase starts from 100 (given, not read); the allocator then holds 500 until a
        // background sample has seen it, and 100 again by the phase's end.
        long figure = 500;
        using var sampler = new PeakSampler(() => Interlocked.Read(ref figure), interval: TimeSpan.FromMilliseconds(2));

        Assert.Equal(100, sampler.Start(known: 100));
        WaitFor(() => sampler.BackgroundSamples > 0, "a background sample");
        Interlocked.Exchange(ref figure, 100);

        (long peak, long now) = sampler.Stop();
        Assert.Equal(500, peak);
        Assert.Equal(100, now);

        // A phase without background sampling sees only its ends and the reads it is offered.
        Assert.Equal(100, sampler.Start(background: false));
        Interlocked.Exchange(ref figure, 300);
        Assert.Equal(300, sampler.SampleNow());
        Interlocked.Exchange(ref figure, 200);
        Assert.Equal((300L, 200L), sampler.Stop());
    }

    [Fact]
    public void A_read_that_straddles_a_phases_end_does_not_reach_the_next_phase()
    {
        // Not disposed: a failed assertion must not pull them from under the blocked read.
        var entered = new SemaphoreSlim(0);
        var release = new SemaphoreSlim(0);
        using var sampler = new PeakSampler(
            () =>
            {
                if (!OnSamplerThread)
                {
                    return 100;
                }

                // The background read begins in the first phase and returns in the second.
                entered.Release();
                release.Wait(Patience);
                return 10_000;
            },
            interval: TimeSpan.FromMilliseconds(2));

        sampler.Start();
        Assert.True(entered.Wait(Patience), "the background read never began");
        Assert.Equal((100L, 100L), sampler.Stop());

        sampler.Start(background: false);
        release.Release();
        WaitFor(() => sampler.DroppedSamples == 1, "the straddling read to be dropped");
        Assert.Equal((100L, 100L), sampler.Stop());
        Assert.Equal(0, sampler.BackgroundSamples);
    }

    [Fact]
    public void The_thread_parks_when_no_sampled_phase_runs_and_the_next_one_wakes_it()
    {
        long figure = 100;
        using var sampler = new PeakSampler(() => Interlocked.Read(ref figure), interval: TimeSpan.FromMilliseconds(2), parkAfter: TimeSpan.FromMilliseconds(20));

        sampler.Start();
        WaitFor(() => sampler.BackgroundSamples > 0, "a background sample");
        sampler.Stop();
        WaitFor(() => sampler.Parked, "the thread to park");
        long before = sampler.BackgroundSamples;

        // Only a background sample can see 900: the start is given, and the end reads 100.
        Interlocked.Exchange(ref figure, 900);
        sampler.Start(known: 100);
        WaitFor(() => sampler.BackgroundSamples > before, "a sample after the wake-up");
        Interlocked.Exchange(ref figure, 100);
        Assert.Equal((900L, 100L), sampler.Stop());
    }

    [Fact]
    public void A_start_given_the_figure_does_not_read_it_again()
    {
        int reads = 0;
        using var sampler = new PeakSampler(() => { Interlocked.Increment(ref reads); return 100; }, background: false);

        Assert.Equal(250, sampler.Start(background: false, known: 250));
        Assert.Equal(0, reads);
        // The phase's peak starts from the given figure; its end is read.
        Assert.Equal((250L, 100L), sampler.Stop());
        Assert.Equal(1, reads);
    }
}
