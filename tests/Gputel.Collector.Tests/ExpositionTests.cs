using System.Text.RegularExpressions;
using Gputel.Collector.Collectors;
using Gputel.Collector.Exposition;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Sampling;
using Gputel.Collector.Store;
using Gputel.Tests.Support;
using static Gputel.Tests.Support.Scripts;

namespace Gputel.Collector.Tests;

/// <summary>The Prometheus exposition in both naming profiles, over the fake driver.</summary>
[Collection(FakeNvmlCollection.Name)]
public sealed partial class ExpositionTests
{
    private static readonly AgentInfo Info = new("testhost", "560.35.03", true, TimeSpan.FromSeconds(1), "0.0.0-test");

    internal static string GoldenScript => Header()
        + "process_name 4242 python3\n"
        + Gpu(0, extra: $"process compute 4242 {16 * GiB}\nprocess compute 4343 {2 * GiB}\n")
        + Gpu(1, usedBytes: 3 * GiB, extra: "fail nvmlDeviceGetTotalEccErrors 3\nthrottle_reasons 0x0\n");

    /// <summary>One full sample of the golden script, exposed in <paramref name="profile"/>.</summary>
    internal static async Task<string> GoldenExpositionAsync(NamingProfile profile)
    {
        using GpuSession session = FakeNvml.Open(GoldenScript);
        string[] names = CollectorCatalog.Names.Where(n => n is not "host" and not "xid").ToArray();
        var store = new SampleStore(session.Devices, names);
        using var sampler = new Sampler(store, CollectorCatalog.Create(names, store, xid: null, procRoot: Path.GetTempPath()), TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(1));
        sampler.SampleOnce();
        return await ExpositionText.RenderAsync(new PrometheusExposition(store, profile, Info, includeRuntimeMetrics: false));
    }

    [Theory]
    [InlineData(NamingProfile.Default, "default.prom")]
    [InlineData(NamingProfile.Dcgm, "dcgm.prom")]
    public async Task Exposition_matches_the_golden_file(NamingProfile profile, string golden)
    {
        string actual = Normalize(await GoldenExpositionAsync(profile));
        string path = Path.Combine(AppContext.BaseDirectory, "golden", golden);
        if (Environment.GetEnvironmentVariable("GPUTEL_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(Repo.Path("tests", "Gputel.Collector.Tests", "golden", golden), actual);
        }

        Assert.Equal(File.ReadAllText(path), actual);
    }

    [Fact]
    public async Task Dcgm_profile_uses_dcgm_units_and_labels()
    {
        IReadOnlyList<Sample> s = ExpositionText.Parse(await GoldenExpositionAsync(NamingProfile.Dcgm));

        Sample used = s.Single("DCGM_FI_DEV_FB_USED", ("gpu", "0"));
        Assert.Equal(10 * 1024, used.Value);
        Assert.Equal(
            ["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION"],
            used.Labels.Keys);
        Assert.Equal("nvidia0", used.Labels["device"]);
        Assert.Equal("560.35.03", used.Labels["DCGM_FI_DRIVER_VERSION"]);
        Assert.Equal(87, s.Single("DCGM_FI_DEV_GPU_UTIL", ("gpu", "0")).Value);
        Assert.Equal(350.5, s.Single("DCGM_FI_DEV_POWER_USAGE", ("gpu", "0")).Value);
        Assert.Equal(1980, s.Single("DCGM_FI_DEV_SM_CLOCK", ("gpu", "1")).Value);
        Assert.InRange(s.Single("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", ("gpu", "0")).Value, 123456789, 123456789 + 3_600_000);
        Assert.Equal(5, s.Single("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", ("gpu", "0")).Value);
        // What dcgm-exporter has no field for keeps its own name, with the dcgm labels.
        Assert.Equal(10.0 * GiB, s.Single("gpu_memory_used_peak_bytes", ("gpu", "0")).Value);
        Assert.DoesNotContain(s, x => x.Name == "gpu_memory_used_bytes");
        // Processes too, so they join the DCGM_FI_* series on UUID.
        Sample process = s.Single("gpu_process_memory_used_bytes", ("pid", "4242"));
        Assert.Equal(
            ["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION", "pid", "command", "container_id", "pod", "namespace", "pod_uid"],
            process.Labels.Keys);
        Assert.Equal(used.Labels["UUID"], process.Labels["UUID"]);
    }

    [Fact]
    public void Dcgm_integer_fields_are_whole_as_dcgm_keeps_them()
    {
        // Memory not a whole number of MiB: DCGM divides and drops the rest.
        Assert.Equal(1977, GpuMetrics.MemoryUsed.Dcgm!.Value(2_073_735_168));
        Assert.Equal(80 * 1024, GpuMetrics.MemoryTotal.Dcgm!.Value(80.0 * GiB));
        // NVML's whole millijoules, kept in joules and scaled back, and a percentage kept as a ratio:
        // the floating-point residue goes (4175899.9999999995, 7.000000000000001).
        Assert.Equal(4_175_900, GpuMetrics.Energy.Dcgm!.Value(4_175_900 / 1000.0));
        Assert.Equal(7, GpuMetrics.Utilization.Dcgm!.Value(0.07));
        // Fields DCGM keeps as doubles stay as they are.
        Assert.Equal(350.5, GpuMetrics.Power.Dcgm!.Value(350.5));
    }

    [Fact]
    public async Task Default_profile_uses_base_units()
    {
        IReadOnlyList<Sample> s = ExpositionText.Parse(await GoldenExpositionAsync(NamingProfile.Default));

        Assert.Equal(10.0 * GiB, s.Single("gpu_memory_used_bytes", ("gpu", "0")).Value);
        Assert.Equal(3.0 * GiB, s.Single("gpu_memory_used_bytes", ("gpu", "1")).Value);
        Assert.Equal(0.87, s.Single("gpu_utilization_ratio", ("gpu", "0")).Value);
        Assert.Equal(2.619e9, s.Single("gpu_clock_hertz", ("gpu", "0"), ("clock", "memory")).Value);
        Assert.Equal(16.0 * GiB, s.Single("gpu_process_memory_used_bytes", ("pid", "4242")).Value);
        Assert.Equal("python3", s.Single("gpu_process_memory_used_bytes", ("pid", "4242")).Labels["command"]);
        // GPU 1 has no ECC: no series, and the collector still succeeded.
        Assert.DoesNotContain(s, x => x.Name == "gpu_ecc_errors_total" && x.Labels["gpu"] == "1");
        Assert.Equal(1, s.Single("telemetry_collector_success", ("collector", "ecc")).Value);
        Assert.Equal(1, s.Single("gpu_up", ("gpu", "1")).Value);
    }

    [Fact]
    public async Task A_spike_between_scrapes_shows_in_the_peak_only_and_the_next_window_forgets_it()
    {
        // 1 GiB, with a 60 ms spike to 6 GiB starting 300 ms after the script loads.
        using GpuSession session = FakeNvml.Open(Header() + Gpu(0, usedBytes: GiB, extra: $"memory_timeline 300:{6 * GiB} 360:{GiB}\n"));
        var store = new SampleStore(session.Devices, ["memory"]);
        var exposition = new PrometheusExposition(store, NamingProfile.Default, Info, includeRuntimeMetrics: false);
        using var sampler = new Sampler(store, CollectorCatalog.Create(["memory"], store, xid: null), TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(1));
        sampler.Start();
        Wait.Until(() => store.Memory(0).TryRead(closeWindow: false, out _, out _), "the first sample");
        IReadOnlyList<Sample> first = ExpositionText.Parse(await ExpositionText.RenderAsync(exposition));
        Assert.Equal(1.0 * GiB, first.Single("gpu_memory_used_peak_bytes").Value);

        Thread.Sleep(600);
        IReadOnlyList<Sample> second = ExpositionText.Parse(await ExpositionText.RenderAsync(exposition));
        IReadOnlyList<Sample> third = ExpositionText.Parse(await ExpositionText.RenderAsync(exposition));

        Assert.Equal(1.0 * GiB, second.Single("gpu_memory_used_bytes").Value);
        Assert.Equal(6.0 * GiB, second.Single("gpu_memory_used_peak_bytes").Value);
        Assert.Equal(1.0 * GiB, third.Single("gpu_memory_used_peak_bytes").Value);
    }

    [Fact]
    public async Task Series_of_exited_processes_and_lost_devices_are_removed()
    {
        GpuDevice[] devices = [new(0, new NvmlDevice(IntPtr.Zero), "GPU-a", "Test GPU", "00000000:01:00.0", 0)];
        var store = new SampleStore(devices, ["processes"]);
        var exposition = new PrometheusExposition(store, NamingProfile.Default, Info, includeRuntimeMetrics: false);
        ProcessReading P(int pid) => new(0, pid, "python3", "", "", "", 1024);

        store.Publish(0, 0, new CollectorResult([], [P(1), P(2)], true, 0, Environment.TickCount64, null));
        store.Memory(0).Record(new MemoryInfo(100, 1, 89, 10));
        Assert.Equal(2, ExpositionText.Parse(await ExpositionText.RenderAsync(exposition)).Count(s => s.Name == "gpu_process_memory_used_bytes"));

        store.Publish(0, 0, new CollectorResult([], [P(2)], true, 0, Environment.TickCount64, null));
        IReadOnlyList<Sample> after = ExpositionText.Parse(await ExpositionText.RenderAsync(exposition));
        Assert.Equal("2", Assert.Single(after, s => s.Name == "gpu_process_memory_used_bytes").Labels["pid"]);

        store.SetUp(0, false);
        store.Memory(0).Clear();
        IReadOnlyList<Sample> lost = ExpositionText.Parse(await ExpositionText.RenderAsync(exposition));
        Assert.Equal(0, lost.Single("gpu_up").Value);
        Assert.DoesNotContain(lost, s => s.Name is "gpu_memory_used_bytes" or "gpu_process_memory_used_bytes");
    }

    [Fact]
    public async Task A_failed_or_stuck_collector_is_reported_and_the_scrape_still_answers()
    {
        GpuDevice[] devices = [new(0, new NvmlDevice(IntPtr.Zero), "GPU-a", "Test GPU", "00000000:01:00.0", 0)];
        var store = new SampleStore(devices, ["temperature", "power", "utilization"]);
        var exposition = new PrometheusExposition(store, NamingProfile.Default, Info, includeRuntimeMetrics: false);
        long now = Environment.TickCount64;
        store.Publish(0, 0, new CollectorResult([], [], false, 0.001, now, "nvmlDeviceGetTemperature failed"));
        store.Publish(1, 0, new CollectorResult([new Reading(GpuMetrics.Power, 0, 300)], [], true, 0.001, now - 60_000, null));
        store.Publish(2, 0, new CollectorResult([new Reading(GpuMetrics.Utilization, 0, 0.5)], [], true, 0.001, now, null));

        IReadOnlyList<Sample> s = ExpositionText.Parse(await ExpositionText.RenderAsync(exposition));

        Assert.Equal(0, s.Single("telemetry_collector_success", ("collector", "temperature")).Value);
        Assert.Equal(0, s.Single("telemetry_collector_success", ("collector", "power")).Value);
        Assert.Equal(1, s.Single("telemetry_collector_success", ("collector", "utilization")).Value);
        Assert.Equal(0.5, s.Single("gpu_utilization_ratio").Value);
    }

    [Fact]
    public async Task A_lost_gpu_does_not_fail_the_collectors_that_work_on_the_others()
    {
        GpuDevice[] devices =
        [
            new(0, new NvmlDevice(IntPtr.Zero), "GPU-a", "Test GPU", "00000000:01:00.0", 0),
            new(1, new NvmlDevice(IntPtr.Zero), "GPU-b", "Test GPU", "00000000:02:00.0", 1) { Slot = 1 },
        ];
        var store = new SampleStore(devices, ["power"]);
        var exposition = new PrometheusExposition(store, NamingProfile.Default, Info, includeRuntimeMetrics: false);
        long now = Environment.TickCount64;
        store.Publish(0, 0, new CollectorResult([new Reading(GpuMetrics.Power, 0, 300)], [], true, 0.001, now, null));
        // GPU 1 was lost a minute ago: its last run is long past.
        store.Publish(0, 1, new CollectorResult([], [], true, 0.001, now - 60_000, null));
        store.SetUp(1, false);

        IReadOnlyList<Sample> s = ExpositionText.Parse(await ExpositionText.RenderAsync(exposition));

        Assert.Equal(0, s.Single("gpu_up", ("gpu", "1")).Value);
        Assert.Equal(1, s.Single("telemetry_collector_success", ("collector", "power")).Value);
    }

    /// <summary>Keeps what the golden file pins down; the energy and NVLink counters grow with time, so their values are masked.</summary>
    private static string Normalize(string exposition)
    {
        IEnumerable<string> lines = exposition.Split('\n')
            .Where(l => l.Length > 0 && !l.Contains("telemetry_collector_duration_seconds", StringComparison.Ordinal)
                && !l.Contains("telemetry_sample_lag_seconds", StringComparison.Ordinal))
            .Select(l => GrowingCounterValue().Replace(l, "$1 <grows>"));
        return string.Join('\n', lines) + "\n";
    }

    [GeneratedRegex(@"^((?:gpu_energy_joules_total|DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION|gpu_nvlink_data_bytes_total|DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL)\{.*\}) \S+$")]
    private static partial Regex GrowingCounterValue();
}
