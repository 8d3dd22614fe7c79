using Gputel.Collector.Collectors;
using Gputel.Collector.Exposition;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Sampling;
using Gputel.Collector.Store;
using Gputel.Tests.Support;
using static Gputel.Tests.Support.Scripts;

namespace Gputel.Collector.Tests;

/// <summary>
/// The agent against the fake driver built as each real driver branch exports it: it starts,
/// serves everything the branch has, and leaves out only what the branch lacks.
/// </summary>
[Collection(FakeNvmlCollection.Name)]
public sealed class DriverProfileTests
{
    /// <summary>Families every branch from R450 on serves for the scripted GPU.</summary>
    private static readonly string[] EveryBranch =
    [
        "gpu_memory_used_bytes", "gpu_memory_total_bytes", "gpu_memory_free_bytes", "gpu_memory_used_peak_bytes",
        "gpu_utilization_ratio", "gpu_memory_utilization_ratio", "gpu_encoder_utilization_ratio", "gpu_decoder_utilization_ratio",
        "gpu_power_watts", "gpu_power_limit_watts", "gpu_energy_joules_total", "gpu_temperature_celsius", "gpu_memory_temperature_celsius",
        "gpu_clock_hertz", "gpu_throttle_reason", "gpu_pcie_bytes_per_second", "gpu_pcie_replays_total", "gpu_ecc_errors_total",
        "gpu_remapped_rows_total", "gpu_nvlink_data_bytes_total", "gpu_process_memory_used_bytes", "gpu_up",
    ];

    public static TheoryData<string, string, bool, bool, string, string, string> Branches => new()
    {
        // profile, driver version, reserved memory?, GPM?, process list, memory and clock-event queries that answer
        { "r450", "450.248.02", false, false, "nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetCurrentClocksThrottleReasons" },
        { "r470", "470.256.02", false, false, "nvmlDeviceGetComputeRunningProcesses_v2", "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetCurrentClocksThrottleReasons" },
        { "r515", "515.105.01", true, false, "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetCurrentClocksThrottleReasons" },
        { "r520", "520.61.05", true, true, "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetCurrentClocksThrottleReasons" },
        { "r535-early", "535.54.03", true, true, "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetCurrentClocksEventReasons" },
        { "r535", "535.183.01", true, true, "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetCurrentClocksEventReasons" },
        { "r550", "550.127.05", true, true, "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetCurrentClocksEventReasons" },
    };

    /// <summary>The entry points driver-branches.txt dates after the profile's branch.</summary>
    private static string[] LaterEntryPoints(string profile)
    {
        int branch = int.Parse(profile.AsSpan(1, 3), System.Globalization.CultureInfo.InvariantCulture);
        return File.ReadAllLines(Repo.Path("tests", "fake-nvml", "driver-branches.txt"))
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => int.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture) > branch)
            .Select(f => f[0])
            .ToArray();
    }

    private static string Script(string driver) => Header(driver)
        + Gpu(0, extra: $"process compute 4242 {16 * GiB}\nprocess compute 4343 {2 * GiB}\nprocess graphics 4444 {GiB}\nxid 0 79\n");

    [Theory]
    [MemberData(nameof(Branches))]
    public async Task Each_driver_branch_serves_what_it_has_and_drops_only_what_it_lacks(
        string profile, string driver, bool reserved, bool gpm, string processQuery, string memoryQuery, string clockEventQuery)
    {
        using FakeDriverProfile fake = FakeDriverProfile.Open(profile, Script(driver));
        GpuSession session = fake.Session;
        Assert.Equal(driver, session.DriverVersion);
        // The driver lacks exactly what its branch does not have yet; the agent says so once, at start.
        string[] later = LaterEntryPoints(profile);
        Assert.Equal(later.Order(), session.Driver!.MissingFunctions.Order());
        if (later.Length == 0)
        {
            Assert.Empty(session.Warnings);
        }
        else
        {
            Assert.Contains(later[0], Assert.Single(session.Warnings), StringComparison.Ordinal);
        }

        Assert.Equal("GPU-00000000-0000-0000-0000-000000000000", Assert.Single(session.Devices).Uuid);

        string[] names = CollectorCatalog.Names.Where(n => n != "host").ToArray();
        var store = new SampleStore(session.Devices, names);
        using var xid = new XidWatcher(session.Driver!, session.Devices);
        var log = new List<string>();
        using var sampler = new Sampler(store, CollectorCatalog.Create(names, store, xid, procRoot: Path.GetTempPath()), TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(1), log.Add);
        sampler.SampleOnce();
        // GPM compares two samples at least 100 ms apart.
        Thread.Sleep(150);
        sampler.SampleOnce();
        var exposition = new PrometheusExposition(store, NamingProfile.Default, new AgentInfo("testhost", driver, true, TimeSpan.FromSeconds(1), "0.0.0-test"), includeRuntimeMetrics: false);
        IReadOnlyList<Sample> s = ExpositionText.Parse(await ExpositionText.RenderAsync(exposition));

        foreach (string family in EveryBranch)
        {
            Assert.Contains(s, x => x.Name == family);
        }

        Assert.Equal(reserved, s.Any(x => x.Name == "gpu_memory_reserved_bytes"));
        Assert.Equal(gpm, s.Any(x => x.Name == "gpu_sm_active_ratio"));
        // v1 memory counts the reserved part as used; v2 tells it apart.
        Assert.Equal(reserved ? 10.0 * GiB : 10.5 * GiB, s.Single("gpu_memory_used_bytes").Value);
        // Every record read at its version's size: on early 535 a 24-byte stride would garble the second.
        Assert.Equal(16.0 * GiB, s.Single("gpu_process_memory_used_bytes", ("pid", "4242")).Value);
        Assert.Equal(2.0 * GiB, s.Single("gpu_process_memory_used_bytes", ("pid", "4343")).Value);
        Assert.Equal(1.0 * GiB, s.Single("gpu_process_memory_used_bytes", ("pid", "4444")).Value);
        Assert.Equal(1, s.Single("gpu_throttle_reason", ("reason", "gpu_idle")).Value);

        // Missing functions are "no data", not failures.
        Assert.All(s.Where(x => x.Name == "telemetry_collector_success"), x => Assert.Equal(1, x.Value));
        Assert.All(s.Where(x => x.Name == "telemetry_collector_readings_failed"), x => Assert.Equal(0, x.Value));
        Assert.DoesNotContain(log, line => line.Contains("failed", StringComparison.Ordinal));
        Assert.Equal(!gpm, log.Contains("GPU 0: GPM (profiling metrics) needs an NVIDIA driver of R520 or newer: no gpu_*_active_ratio series"));

        Assert.True(fake.CallCount(processQuery) > 0, $"{processQuery} answered the process list");
        Assert.True(fake.CallCount(memoryQuery) > 0, $"{memoryQuery} answered the memory query");
        Assert.True(fake.CallCount(clockEventQuery) > 0, $"{clockEventQuery} answered the clock events");
    }

    [Fact]
    public void A_function_the_driver_lacks_answers_function_not_found_for_that_call_only()
    {
        using FakeDriverProfile fake = FakeDriverProfile.Open("r470", Script("470.256.02"));
        NvmlDevice device = Assert.Single(fake.Session.Devices).Handle;

        Assert.Equal(NvmlReturn.FunctionNotFound, device.TryGetGpmSupport(out bool supported));
        Assert.False(supported);
        Assert.Equal(NvmlReturn.Success, device.TryGetTemperature(out uint celsius));
        Assert.Equal(65u, celsius);
        Assert.Equal(NvmlReturn.Success, device.TryGetMemory(out MemoryInfo memory));
        Assert.Null(memory.Reserved);
        Assert.Equal(80 * GiB, memory.Total);
    }

    [Fact]
    public void A_missing_function_drops_only_its_readings_not_its_collector_s_others()
    {
        using FakeDriverProfile fake = FakeDriverProfile.Open("without-nvmlDeviceGetFieldValues+nvmlDeviceGetEncoderUtilization", Script("560.35.03"));
        GpuDevice device = Assert.Single(fake.Session.Devices);
        Assert.Equal(["nvmlDeviceGetEncoderUtilization", "nvmlDeviceGetFieldValues"], fake.Session.Driver!.MissingFunctions.Order());

        // Memory temperature is a field value: the die temperature stays.
        var temperature = new CollectorOutput();
        new TemperatureCollector().Collect(device, temperature);
        Assert.Equal([GpuMetrics.Temperature], temperature.Readings.Select(r => r.Metric));
        Assert.Empty(temperature.Failures);

        // Without the encoder's query, the GPU's, the memory controller's and the decoder's stay.
        var utilization = new CollectorOutput();
        new UtilizationCollector().Collect(device, utilization);
        Assert.Equal([GpuMetrics.Utilization, GpuMetrics.MemoryUtilization, GpuMetrics.DecoderUtilization], utilization.Readings.Select(r => r.Metric));
        Assert.Empty(utilization.Failures);

        // NVLink counters are field values too; PCIe replays have their own query.
        var nvlink = new CollectorOutput();
        new NvLinkCollector().Collect(device, nvlink);
        Assert.Empty(nvlink.Readings);
        var pcie = new CollectorOutput();
        new PcieCollector().Collect(device, pcie);
        Assert.Contains(pcie.Readings, r => ReferenceEquals(r.Metric, GpuMetrics.PcieReplays));
    }

    [Theory]
    [InlineData("535.43.02", true)]
    [InlineData("535.54.03", true)]
    [InlineData("535.86.10", true)]
    [InlineData("535.104.05", false)]
    [InlineData("535.183.01", false)]
    [InlineData("530.30.02", false)]
    [InlineData("550.54.15", false)]
    [InlineData("unknown", false)]
    [InlineData("", false)]
    public void Early_535_drivers_are_known_by_version(string driver, bool confidentialLayout) =>
        Assert.Equal(confidentialLayout, NvmlProcessLayout.V3IsConfidentialLayout(driver));
}
