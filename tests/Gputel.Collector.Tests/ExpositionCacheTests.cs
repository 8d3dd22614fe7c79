using System.IO.Compression;
using System.Text;
using Gputel.Collector.Exposition;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Store;
using Gputel.Tests.Support;

namespace Gputel.Collector.Tests;

/// <summary>
/// The rendered body is kept and served again while the store is unchanged: what a scraper sees
/// must still be exactly what a fresh render would show.
/// </summary>
public sealed class ExpositionCacheTests
{
    private static readonly AgentInfo Info = new("testhost", "560.35.03", true, TimeSpan.FromSeconds(1), "0.0.0-test");
    private static readonly GpuDevice[] OneGpu = [new(0, new NvmlDevice(IntPtr.Zero), "GPU-a", "Test GPU", "00000000:01:00.0", 0)];

    private static (SampleStore Store, PrometheusExposition Exposition) Create()
    {
        var store = new SampleStore(OneGpu, ["power", "processes"]);
        return (store, new PrometheusExposition(store, NamingProfile.Default, Info, includeRuntimeMetrics: false));
    }

    private static CollectorResult Power(double watts) => new([new Reading(GpuMetrics.Power, 0, watts)], [], true, 0.001, Environment.TickCount64, null);

    private static CollectorResult Processes(params int[] pids) =>
        new([], pids.Select(pid => new ProcessReading(0, pid, "python3", "", "", "", 1024)).ToArray(), true, 0.001, Environment.TickCount64, null);

    private static async Task<string> TextAsync(PrometheusExposition exposition, ExpositionEncoding encoding = ExpositionEncoding.Identity)
    {
        using ExpositionLease lease = await exposition.AcquireAsync(encoding);
        Assert.Equal(encoding, lease.Encoding);
        return encoding == ExpositionEncoding.Identity ? Encoding.UTF8.GetString(lease.Body.Span) : Gunzip(lease.Body.ToArray());
    }

    private static string Gunzip(byte[] body)
    {
        using var zip = new GZipStream(new MemoryStream(body), CompressionMode.Decompress);
        using var reader = new StreamReader(zip, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    [Fact]
    public async Task An_unchanged_store_is_served_from_the_last_render_and_a_new_sample_shows_in_the_next_scrape()
    {
        (SampleStore store, PrometheusExposition exposition) = Create();
        store.Publish(0, 0, Power(300));
        string first = await TextAsync(exposition);
        long renders = exposition.Renders;

        string again = await TextAsync(exposition);
        Assert.Equal(renders, exposition.Renders);
        Assert.Equal(first, again);

        store.Publish(0, 0, Power(412.5));
        IReadOnlyList<Sample> next = ExpositionText.Parse(await TextAsync(exposition));
        Assert.Equal(renders + 1, exposition.Renders);
        Assert.Equal(412.5, next.Single("gpu_power_watts").Value);
        Assert.Equal(300, ExpositionText.Parse(first).Single("gpu_power_watts").Value);
    }

    [Fact]
    public async Task A_process_that_went_away_disappears_from_the_next_scrape_after_cached_ones()
    {
        (SampleStore store, PrometheusExposition exposition) = Create();
        store.Publish(1, 0, Processes(1, 2));
        await TextAsync(exposition);
        IReadOnlyList<Sample> served = ExpositionText.Parse(await TextAsync(exposition));
        Assert.Equal(["1", "2"], served.Where(s => s.Name == "gpu_process_memory_used_bytes").Select(s => s.Labels["pid"]).Order());

        store.Publish(1, 0, Processes(2));
        IReadOnlyList<Sample> after = ExpositionText.Parse(await TextAsync(exposition));

        Assert.Equal("2", Assert.Single(after, s => s.Name == "gpu_process_memory_used_bytes").Labels["pid"]);
    }

    [Fact]
    public async Task A_lost_device_and_a_cleared_memory_window_change_the_next_scrape()
    {
        (SampleStore store, PrometheusExposition exposition) = Create();
        store.Memory(0).Record(new MemoryInfo(100, 0, 90, 10));
        Assert.Equal(10, ExpositionText.Parse(await TextAsync(exposition)).Single("gpu_memory_used_bytes").Value);

        store.SetUp(0, false);
        store.ClearMemory(0);
        IReadOnlyList<Sample> lost = ExpositionText.Parse(await TextAsync(exposition));

        Assert.Equal(0, lost.Single("gpu_up").Value);
        Assert.DoesNotContain(lost, s => s.Name == "gpu_memory_used_bytes");
    }

    [Fact]
    public async Task A_peak_above_the_last_sample_is_shown_once_and_the_next_scrape_renders_the_new_window()
    {
        (SampleStore store, PrometheusExposition exposition) = Create();
        store.Memory(0).Record(new MemoryInfo(100, 0, 90, 10));
        store.Memory(0).Record(new MemoryInfo(100, 0, 40, 60));
        store.Memory(0).Record(new MemoryInfo(100, 0, 90, 10));

        IReadOnlyList<Sample> spike = ExpositionText.Parse(await TextAsync(exposition));
        // No sample in between: the store is unchanged, but the window the spike was in is closed.
        IReadOnlyList<Sample> next = ExpositionText.Parse(await TextAsync(exposition));
        long renders = exposition.Renders;
        IReadOnlyList<Sample> steady = ExpositionText.Parse(await TextAsync(exposition));

        Assert.Equal(60, spike.Single("gpu_memory_used_peak_bytes").Value);
        Assert.Equal(10, next.Single("gpu_memory_used_peak_bytes").Value);
        Assert.Equal(10, steady.Single("gpu_memory_used_peak_bytes").Value);
        Assert.Equal(renders, exposition.Renders);
    }

    [Fact]
    public async Task Gzip_and_identity_get_their_own_bytes_of_the_same_text()
    {
        (SampleStore store, PrometheusExposition exposition) = Create();
        store.Publish(0, 0, Power(300));
        store.Publish(1, 0, Processes(1, 2, 3));

        using (ExpositionLease identity = await exposition.AcquireAsync(ExpositionEncoding.Identity))
        using (ExpositionLease gzip = await exposition.AcquireAsync(ExpositionEncoding.Gzip))
        {
            Assert.Equal([0x1f, 0x8b], gzip.Body[..2].ToArray());
            Assert.Equal(Encoding.UTF8.GetString(identity.Body.Span), Gunzip(gzip.Body.ToArray()));
            Assert.True(gzip.Body.Length < identity.Body.Length);
        }

        store.Publish(0, 0, Power(310));
        Assert.Equal(310, ExpositionText.Parse(await TextAsync(exposition, ExpositionEncoding.Gzip)).Single("gpu_power_watts").Value);
        Assert.Equal(310, ExpositionText.Parse(await TextAsync(exposition)).Single("gpu_power_watts").Value);
    }

    [Fact]
    public async Task A_body_older_than_the_max_age_is_rendered_again_with_no_change_in_the_store()
    {
        (SampleStore store, PrometheusExposition exposition) = Create();
        store.Publish(0, 0, Power(300));
        await TextAsync(exposition);
        long renders = exposition.Renders;

        await Task.Delay(PrometheusExposition.MaxAge + TimeSpan.FromMilliseconds(100));
        await TextAsync(exposition);

        Assert.Equal(renders + 1, exposition.Renders);
    }

    [Fact]
    public async Task A_body_being_written_is_never_overwritten_by_later_renders()
    {
        // Scrapers hold bodies while the store changes under them; each must keep its own bytes
        // until it lets go, however many renders reuse buffers meanwhile.
        (SampleStore store, PrometheusExposition exposition) = Create();
        store.Publish(0, 0, Power(0));
        using var stop = new CancellationTokenSource();
        Task writer = Task.Run(() =>
        {
            for (int i = 1; !stop.IsCancellationRequested; i++)
            {
                store.Publish(0, 0, Power(i));
                store.Publish(1, 0, Processes([.. Enumerable.Range(1, 1 + (i % 5))]));
            }
        });

        async Task Scrape()
        {
            for (int n = 0; n < 300; n++)
            {
                using ExpositionLease lease = await exposition.AcquireAsync(n % 3 == 0 ? ExpositionEncoding.Gzip : ExpositionEncoding.Identity);
                byte[] copy = lease.Body.ToArray();
                await Task.Yield();
                Assert.True(lease.Body.Span.SequenceEqual(copy), "a held body changed");
                string text = lease.Encoding == ExpositionEncoding.Gzip ? Gunzip(copy) : Encoding.UTF8.GetString(copy);
                Assert.Single(ExpositionText.Parse(text), s => s.Name == "gpu_power_watts");
            }
        }

        try
        {
            await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(Scrape)));
        }
        finally
        {
            await stop.CancelAsync();
            await writer;
        }

        Assert.True(exposition.Renders > 1);
    }
}
