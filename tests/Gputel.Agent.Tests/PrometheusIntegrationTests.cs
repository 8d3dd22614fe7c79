using Gputel.Tests.Support;
using static Gputel.Tests.Support.Scripts;

namespace Gputel.Agent.Tests;

/// <summary>
/// A real Prometheus server scrapes two real agents on the fake driver, one per naming profile,
/// and what arrives is checked through Prometheus's HTTP API.
/// </summary>
public sealed class PrometheusIntegrationTests : IDisposable
{
    private const ulong Baseline = 1 * GiB;
    private const ulong Spike = 6 * GiB;
    private readonly TempDirectory _dir = new();

    // GPU 0 sits at 1 GiB with a 30 ms spike to 6 GiB every 700 ms: every 1 s scrape window holds
    // a spike, but a scrape lands inside one only by chance (about 4% of the time).
    private static string Script => Header() + "process_name 4242 python3\n"
        + Gpu(0, usedBytes: Baseline, extra: $"memory_timeline 100:{Spike} 130:{Baseline}\nmemory_timeline_period 700\nprocess compute 4242 {16 * GiB}\nxid 200 79\n")
        + Gpu(1, usedBytes: 3 * GiB);

    [Fact]
    public void Prometheus_scrapes_both_profiles_and_the_peak_catches_spikes_the_last_value_misses()
    {
        Dictionary<string, string> env = FakeDriver.Environment(_dir.Path, Script);
        using AgentProcess defaultAgent = AgentProcess.Start(["agent", "--listen", "127.0.0.1:0", "--nvml-library", FakeDriver.LibraryPath], env);
        using AgentProcess dcgmAgent = AgentProcess.Start(["agent", "--listen", "127.0.0.1:0", "--metric-names", "dcgm", "--nvml-library", FakeDriver.LibraryPath], env);
        Uri defaultUri = defaultAgent.WaitUntilListening();
        Uri dcgmUri = dcgmAgent.WaitUntilListening();
        using PrometheusServer prometheus = PrometheusServer.Start(("gputel", defaultUri), ("gputel-dcgm", dcgmUri));

        // Enough scrapes for the spike statistics below.
        Wait.Until(() => prometheus.Query("count_over_time(up{job=\"gputel\"}[1m])").SingleOrDefault().Value >= 10, "10 scrapes", seconds: 90);

        Assert.All(prometheus.Query("up"), s => Assert.Equal(1, s.Value));
        Assert.Equal(2, prometheus.Query("gpu_up{job=\"gputel\"} == 1").Count);
        Assert.Equal(3.0 * GiB, prometheus.Query("gpu_memory_used_bytes{job=\"gputel\",gpu=\"1\"}").Single().Value);
        Assert.Equal(0.87, prometheus.Query("gpu_utilization_ratio{job=\"gputel\",gpu=\"0\"}").Single().Value);
        Assert.Equal(1.98e9, prometheus.Query("gpu_clock_hertz{job=\"gputel\",gpu=\"0\",clock=\"sm\"}").Single().Value);
        Assert.Equal(16.0 * GiB, prometheus.Query("gpu_process_memory_used_bytes{job=\"gputel\",pid=\"4242\",command=\"python3\"}").Single().Value);
        Assert.Equal(1, prometheus.Query("gpu_xid_errors_total{job=\"gputel\",gpu=\"0\",xid=\"79\"}").Single().Value);
        // The scripted 350 W shows as the counter's rate; a collector run delayed by a loaded machine
        // can flatten one 10 s window, so the rate is asked again until it shows (or the wait fails).
        Wait.Until(() => prometheus.Query("rate(gpu_energy_joules_total{job=\"gputel\",gpu=\"0\"}[10s])").Single().Value > 300, "the energy counter to rise at the scripted power", seconds: 30);
        Assert.All(prometheus.Query("telemetry_collector_success{job=\"gputel\"}"), s => Assert.Equal(1, s.Value));

        // The dcgm profile: dcgm-exporter names, units and labels.
        var fbUsed = prometheus.Query("DCGM_FI_DEV_FB_USED{gpu=\"1\"}").Single();
        Assert.Equal(3072, fbUsed.Value);
        Assert.Equal("nvidia1", fbUsed.Labels["device"]);
        Assert.Equal("NVIDIA H100 80GB HBM3", fbUsed.Labels["modelName"]);
        Assert.Equal(350.5, prometheus.Query("DCGM_FI_DEV_POWER_USAGE{gpu=\"0\"}").Single().Value);
        Assert.Equal(79, prometheus.Query("DCGM_FI_DEV_XID_ERRORS{gpu=\"0\"}").Single().Value);
        Assert.Equal(0.425, prometheus.Query("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{gpu=\"0\"}").Single().Value);
        Assert.Equal(0.425, prometheus.Query("gpu_tensor_active_ratio{job=\"gputel\",gpu=\"0\"}").Single().Value);

        // The spike: every scrape's peak saw it, while the last-value series almost never did.
        double[] peaks = prometheus.QueryRange("gpu_memory_used_peak_bytes{job=\"gputel\",gpu=\"0\"}[1m]").Single().Values;
        double[] lasts = prometheus.QueryRange("gpu_memory_used_bytes{job=\"gputel\",gpu=\"0\"}[1m]").Single().Values;
        int peakHits = peaks.Count(v => v == Spike);
        int lastHits = lasts.Count(v => v == Spike);
        Assert.True(peakHits >= peaks.Length - 2, $"the peak caught the spike in {peakHits} of {peaks.Length} scrapes");
        Assert.True(lastHits <= lasts.Length / 3, $"the last value caught the spike in {lastHits} of {lasts.Length} scrapes");
        Assert.All(lasts, v => Assert.True(v is Baseline or Spike));

        DashboardQueriesReturnData(prometheus);
        DefaultDcgmCountersArrive(prometheus);
    }

    /// <summary>
    /// Every counter of dcgm-exporter's default list arrives with its name and type, except the one
    /// NVML cannot give on a bare-metal node (docs/DCGM-COUNTERS.md says why); the driver-version
    /// "label" field is a label on every series.
    /// </summary>
    private static void DefaultDcgmCountersArrive(PrometheusServer prometheus)
    {
        string path = Path.Combine(Repo.Root, "..", "shared", "reference", "dcgm-exporter-default-counters.csv");
        Assert.SkipUnless(File.Exists(path), $"dcgm-exporter's counter list not found at {path}");
        string[] notFromNvml = ["DCGM_FI_DEV_VGPU_LICENSE_STATUS"];
        var missing = new List<string>();
        foreach (string line in File.ReadLines(path).Where(l => l.Trim().Length > 0 && !l.TrimStart().StartsWith('#')))
        {
            string[] fields = line.Split(',', StringSplitOptions.TrimEntries);
            (string name, string type) = (fields[0], fields[1]);
            if (type == "label")
            {
                Assert.NotEmpty(prometheus.Query($"DCGM_FI_DEV_GPU_TEMP{{{name}!=\"\"}}"));
            }
            else if (!notFromNvml.Contains(name) && prometheus.Query($"{name}{{job=\"gputel-dcgm\"}}").Count == 0)
            {
                missing.Add(name);
            }
        }

        Assert.Empty(missing);
        // Types as dcgm-exporter declares them, read back from Prometheus's metadata.
        Assert.Equal("counter", prometheus.MetricType("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"));
        Assert.Equal("counter", prometheus.MetricType("DCGM_FI_DEV_PCIE_REPLAY_COUNTER"));
        Assert.Equal("gauge", prometheus.MetricType("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"));
    }

    /// <summary>
    /// Every query of NVIDIA's dashboard 12239, its template variables included, returns data from the
    /// dcgm profile, substituted as Grafana would: the tensor-core panel too, from NVML GPM without DCGM.
    /// </summary>
    private static void DashboardQueriesReturnData(PrometheusServer prometheus)
    {
        string path = Path.Combine(Repo.Root, "..", "shared", "reference", "dcgm-exporter-dashboard-12239.json");
        Assert.SkipUnless(File.Exists(path), $"dashboard 12239 reference not found at {path}");
        var queries = new GrafanaQueries(prometheus, GrafanaDashboard.Load(path), TimeSpan.FromMinutes(5));

        Assert.All(queries.Options, o => Assert.NotEmpty(o.Value));
        Assert.Empty(queries.RunAll().Where(r => r.Failed).Select(r => r.ToString()));
    }

    [Fact]
    public async Task Without_a_driver_the_agent_says_so_once_and_serves_host_and_self_metrics()
    {
        string notALibrary = _dir.File("libnvidia-ml.so.1", "not an ELF file");
        using AgentProcess agent = AgentProcess.Start(["agent", "--listen", "127.0.0.1:0", "--nvml-library", notALibrary]);
        Uri uri = agent.WaitUntilListening();
        using var http = new HttpClient();

        Wait.Until(() => http.GetStringAsync(new Uri(uri, "metrics")).GetAwaiter().GetResult().Contains("host_memory_total_bytes", StringComparison.Ordinal), "host metrics");
        IReadOnlyList<Sample> samples = ExpositionText.Parse(await http.GetStringAsync(new Uri(uri, "metrics")));
        string health = await http.GetStringAsync(new Uri(uri, "health"));

        Assert.Equal(1, agent.Output.Split('\n').Count(l => l.Contains("could not be loaded", StringComparison.Ordinal)));
        Assert.Contains("serving host and self metrics only", agent.Output, StringComparison.Ordinal);
        Assert.Equal(0, samples.Single("telemetry_nvml_available").Value);
        Assert.True(samples.Single("host_memory_total_bytes").Value > 0);
        Assert.Equal(1, samples.Single("telemetry_collector_success", ("collector", "host")).Value);
        Assert.DoesNotContain(samples, s => s.Name.StartsWith("gpu_", StringComparison.Ordinal));
        Assert.Contains("\"status\":\"ok\"", health, StringComparison.Ordinal);
        Assert.Contains("\"nvml\":false", health, StringComparison.Ordinal);
    }

    public void Dispose() => _dir.Dispose();
}
