using System.Globalization;
using System.Text;
using Gputel.Tests.Support;
using static Gputel.Tests.Support.Scripts;

namespace Gputel.Agent.Tests;

/// <summary>
/// Series per node, measured from a real scrape: agents on the fake driver with a typical training
/// node (8 fully featured H100-like GPUs, 1 or 4 processes each), both naming profiles, scraped by a
/// real Prometheus. The table it prints is the one in docs/SCALING.md; run it with
/// <c>--logger "console;verbosity=detailed"</c> to see it.
/// </summary>
public sealed class CardinalityTests : IDisposable
{
    private const int Gpus = 8;
    private readonly TempDirectory _dir = new();

    private static string Node(int processesPerGpu)
    {
        var s = new StringBuilder(Header());
        for (int gpu = 0; gpu < Gpus; gpu++)
        {
            var processes = new StringBuilder();
            for (int p = 0; p < processesPerGpu; p++)
            {
                int pid = 10_000 + (gpu * 10) + p;
                s.Append(CultureInfo.InvariantCulture, $"process_name {pid} python3\n");
                processes.Append(CultureInfo.InvariantCulture, $"process compute {pid} {GiB}\n");
            }

            s.Append(Gpu(gpu, usedBytes: 40 * GiB, extra: processes.ToString()));
        }

        return s.ToString();
    }

    [Fact]
    public async Task Series_per_node_grow_by_one_per_GPU_process_and_Prometheus_stores_exactly_what_the_agent_exposes()
    {
        (string Profile, int Processes)[] configs = [("default", 1), ("default", 4), ("dcgm", 1), ("dcgm", 4)];
        var agents = new List<AgentProcess>();
        try
        {
            var targets = new List<(string Job, Uri Target)>();
            foreach ((string profile, int processes) in configs)
            {
                AgentProcess agent = AgentProcess.Start(
                    ["agent", "--listen", "127.0.0.1:0", "--metric-names", profile, "--memory-interval", "100ms", "--nvml-library", FakeDriver.LibraryPath],
                    FakeDriver.Environment(_dir.Path, Node(processes)));
                agents.Add(agent);
                targets.Add(($"{profile}-{processes}", agent.WaitUntilListening()));
            }

            using PrometheusServer prometheus = PrometheusServer.Start([.. targets]);
            Wait.Until(() => prometheus.Query("count_over_time(up[1m]) >= 3").Count == configs.Length, "three scrapes of every agent", seconds: 60);
            using var http = new HttpClient();

            var table = new StringBuilder("| profile | processes per GPU | series per node | per GPU (device) | per process | host and self | bytes per scrape |\n| --- | --- | --- | --- | --- | --- | --- |\n");
            var totals = new Dictionary<(string, int), int>();
            foreach (((string profile, int processes), (string job, Uri uri)) in configs.Zip(targets))
            {
                int scraped = (int)prometheus.Query($"scrape_samples_scraped{{job=\"{job}\"}}").Single().Value;
                int stored = (int)prometheus.Query($"count({{job=\"{job}\",__name__!~\"up|scrape_.+\"}})").Single().Value;
                int perProcess = (int)prometheus.Query($"count(gpu_process_memory_used_bytes{{job=\"{job}\"}})").Single().Value;
                int device = (int)prometheus.Query($"count({{job=\"{job}\",gpu!=\"\",__name__!=\"gpu_process_memory_used_bytes\"}})").Single().Value;
                int bytes = (await http.GetStringAsync(new Uri(uri, "metrics"))).Length;
                double[] perGpu = prometheus.Query($"count by (gpu) ({{job=\"{job}\",gpu!=\"\",__name__!=\"gpu_process_memory_used_bytes\"}})").Select(s => s.Value).ToArray();

                Assert.Equal(scraped, stored);
                Assert.Equal(Gpus * processes, perProcess);
                Assert.Equal(Gpus, perGpu.Length);
                Assert.Single(perGpu.Distinct()); // every GPU exposes the same set
                totals[(profile, processes)] = scraped;
                table.Append(CultureInfo.InvariantCulture, $"| {profile} | {processes} | {scraped} | {device / Gpus} | {perProcess / (Gpus * processes)} | {scraped - device - perProcess} | {bytes} |\n");
            }

            // Each process on a GPU adds exactly one series, in either profile.
            Assert.Equal(Gpus * 3, totals[("default", 4)] - totals[("default", 1)]);
            Assert.Equal(Gpus * 3, totals[("dcgm", 4)] - totals[("dcgm", 1)]);
            TestContext.Current.TestOutputHelper?.WriteLine(table.ToString());
            foreach (string job in new[] { "default-1", "dcgm-1" })
            {
                var perMetric = prometheus.Query($"count by (__name__) ({{job=\"{job}\",gpu=\"0\"}})").OrderByDescending(s => s.Value).ThenBy(s => s.Labels["__name__"], StringComparer.Ordinal);
                TestContext.Current.TestOutputHelper?.WriteLine($"{job}, series per GPU: " + string.Join(", ", perMetric.Select(s => $"{s.Labels["__name__"]} {s.Value}")));
            }
        }
        finally
        {
            agents.ForEach(a => a.Dispose());
        }
    }

    public void Dispose() => _dir.Dispose();
}
