using System.Globalization;
using System.Text.Json;
using Gputel.Tests.Support;
using static Gputel.Tests.Support.Scripts;

namespace Gputel.Agent.Tests;

/// <summary>
/// The dashboards in grafana/ against a real Prometheus server: every panel and template variable
/// query, substituted as Grafana would, parses and returns data from real agents on the fake driver
/// and a real <c>gputel finetune</c> run; two agents make one fleet.
/// </summary>
public sealed class GrafanaDashboardTests : IDisposable
{
    private static readonly TimeSpan DashboardRange = TimeSpan.FromMinutes(5);
    private readonly TempDirectory _dir = new();

    // Two nodes that differ: 2 and 3 GPUs, their own UUIDs, processes and Xid events.
    private static string NodeA => Header() + "process_name 4242 python3\n"
        + Gpu(0, usedBytes: 20 * GiB, extra: $"process compute 4242 {16 * GiB}\nxid 200 79\n")
        + Gpu(1, usedBytes: 3 * GiB);

    private static string NodeB => Header() + "process_name 5151 torchrun\nprocess_name 5152 torchrun\n"
        + Renamed(Gpu(0, usedBytes: 40 * GiB, extra: $"process compute 5151 {30 * GiB}\nxid 300 31\n"))
        + Renamed(Gpu(1, usedBytes: 50 * GiB, extra: $"process compute 5152 {40 * GiB}\n"))
        // A MIG GPU: its whole-GPU row holds what its two instances use.
        + Renamed(Gpu(2, usedBytes: 12 * GiB, extra: $"mig_mode 1\nmig 1 0 {20 * GiB} {5 * GiB}\nmig 2 0 {20 * GiB} {7 * GiB}\n"));

    private const string PodUid = "1b2c3d4e-1111-2222-3333-444455556666";

    public static TheoryData<string> Dashboards => new(Directory.GetFiles(Repo.Path("grafana", "dashboards"), "*.json").Select(System.IO.Path.GetFileName)!);

    [Theory]
    [MemberData(nameof(Dashboards))]
    public void Dashboard_follows_the_Grafana_model_and_uses_only_its_own_variables(string file)
    {
        GrafanaDashboard dashboard = GrafanaDashboard.Load(Repo.Path("grafana", "dashboards", file));
        JsonElement root = dashboard.Root;

        Assert.InRange(root.GetProperty("schemaVersion").GetInt32(), 36, 41);
        Assert.False(string.IsNullOrEmpty(root.GetProperty("uid").GetString()));
        Assert.Equal(JsonValueKind.Null, root.GetProperty("id").ValueKind);
        Assert.Contains(dashboard.Variables, v => v is { Name: "datasource", Type: "datasource" });
        string[] ids = dashboard.Panels.Select(p => p.GetProperty("id").GetInt32().ToString(CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(ids.Length, ids.Distinct().Count());
        foreach (JsonElement panel in dashboard.Panels)
        {
            JsonElement grid = panel.GetProperty("gridPos");
            Assert.InRange(grid.GetProperty("x").GetInt32() + grid.GetProperty("w").GetInt32(), 1, 24);
            Assert.Contains(panel.GetProperty("type").GetString(), new[] { "row", "timeseries", "stat", "table", "bargauge" });
            if (panel.GetProperty("type").GetString() != "row")
            {
                // Every panel asks the data source the user picks, not one baked into the file.
                Assert.Equal("${datasource}", panel.GetProperty("datasource").GetProperty("uid").GetString());
                Assert.All(panel.GetProperty("targets").EnumerateArray(), t => Assert.Equal("${datasource}", t.GetProperty("datasource").GetProperty("uid").GetString()));
            }
        }

        Assert.NotEmpty(dashboard.Queries);
    }

    [Fact]
    public void Provisioning_files_point_at_the_dashboards_and_a_Prometheus_data_source()
    {
        var yaml = new YamlDotNet.Serialization.DeserializerBuilder().Build();
        var datasources = yaml.Deserialize<Dictionary<string, object>>(File.ReadAllText(Repo.Path("grafana", "provisioning", "datasources", "prometheus.yaml")));
        var providers = yaml.Deserialize<Dictionary<string, object>>(File.ReadAllText(Repo.Path("grafana", "provisioning", "dashboards", "gputel.yaml")));

        Assert.Equal("1", datasources["apiVersion"].ToString());
        var datasource = Assert.Single((List<object>)datasources["datasources"]);
        Assert.Equal("prometheus", ((Dictionary<object, object>)datasource)["type"]);
        var provider = (Dictionary<object, object>)Assert.Single((List<object>)providers["providers"]);
        Assert.Equal("file", provider["type"]);
        Assert.StartsWith("/", (string)((Dictionary<object, object>)provider["options"])["path"], StringComparison.Ordinal);
    }

    [Fact]
    public void Fleet_dashboard_shows_every_node_and_GPU_of_two_agents_scraped_by_one_Prometheus()
    {
        using AgentProcess a = AgentProcess.Start(["agent", "--listen", "127.0.0.1:0", "--nvml-library", FakeDriver.LibraryPath], FakeDriver.Environment(_dir.Path, NodeA));
        // On node B, torchrun 5151 runs in a Kubernetes pod that the kubelet does not name (no
        // pod-resources socket): its cgroup gives the pod's UID only.
        string procB = System.IO.Path.Combine(_dir.Path, "proc-b");
        Directory.CreateDirectory(System.IO.Path.Combine(procB, "5151"));
        File.WriteAllText(System.IO.Path.Combine(procB, "5151", "cgroup"), $"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{PodUid.Replace('-', '_')}.slice/cri-containerd-{new string('c', 64)}.scope\n");
        using AgentProcess b = AgentProcess.Start(["agent", "--listen", "127.0.0.1:0", "--nvml-library", FakeDriver.LibraryPath, "--proc-root", procB, "--pod-resources-socket", "none"], FakeDriver.Environment(_dir.Path, NodeB));
        string nodeA = a.WaitUntilListening().Authority, nodeB = b.WaitUntilListening().Authority;
        // deploy/'s recording rules, evaluated every second instead of every 30 s.
        string rules = _dir.File("gputel-rules.yml", File.ReadAllText(Repo.Path("deploy", "prometheus", "gputel-rules.yml")).Replace("interval: 30s", "interval: 1s", StringComparison.Ordinal));
        using PrometheusServer prometheus = PrometheusServer.Start(rules, ("gputel", new Uri($"http://{nodeA}")), ("gputel", new Uri($"http://{nodeB}")));
        // Enough scrapes of both for rate() and increase() windows.
        Wait.Until(() => prometheus.Query("count_over_time(up[1m]) >= 8").Count == 2, "8 scrapes of both agents", seconds: 90);

        var fleet = new GrafanaQueries(prometheus, GrafanaDashboard.Load(Repo.Path("grafana", "dashboards", "gputel-fleet.json")), DashboardRange);

        // The per-node variables list both nodes, and the GPUs of both.
        string[] nodes = new[] { nodeA, nodeB }.Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(nodes, fleet.Options["node"]);
        Assert.Equal(["0", "1", "2"], fleet.Options["gpu"]);

        IReadOnlyList<QueryResult> results = fleet.RunAll();
        Assert.Empty(results.Where(r => r.Failed).Select(r => r.ToString()));
        // Every query that keeps the node label shows both nodes.
        Assert.All(results.Where(r => r.Series.Any(s => s.ContainsKey("instance"))),
            r => Assert.Equal(nodes, r.Series.Select(s => s["instance"]).Distinct().Order(StringComparer.Ordinal).ToArray()));
        Assert.Equal(5, prometheus.Query(fleet.Interpolate(Expr(fleet, "GPUs up"))).Single().Value);
        Assert.Equal(2, prometheus.Query(fleet.Interpolate(Expr(fleet, "Nodes"))).Single().Value);
        Assert.Equal(3, prometheus.Query(fleet.Interpolate(Expr(fleet, "Processes on GPUs"))).Count);

        // Every recording rule for the global view (docs/SCALING.md) yields data; the per-node ones per node.
        string[] recorded = [.. System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(rules), @"record: (\S+)").Select(m => m.Groups[1].Value)];
        Assert.True(recorded.Length >= 10);
        Assert.All(recorded, r => Assert.NotEmpty(prometheus.Query(r)));
        Assert.All(recorded.Where(r => r.StartsWith("instance:", StringComparison.Ordinal)),
            r => Assert.Equal(nodes, prometheus.Query(r).Select(s => s.Labels["instance"]).Distinct().Order(StringComparer.Ordinal)));
        Assert.Equal(5, prometheus.Query("cluster:gpu_up:sum").Single().Value);

        // Sums count the MIG GPU once: its whole-GPU row, not that row and its instances' again.
        Assert.Equal(3, prometheus.Query("gpu_memory_used_bytes{gpu=\"2\"}").Count);
        Assert.Equal((20 + 3 + 40 + 50 + 12) * (double)GiB, prometheus.Query("cluster:gpu_memory_used_bytes:sum").Single().Value);
        Assert.Equal(5 * 80 * (double)GiB, prometheus.Query("cluster:gpu_memory_total_bytes:sum").Single().Value);
        Assert.Equal((40 + 50 + 12) * (double)GiB, prometheus.Query($"instance:gpu_memory_used_bytes:sum{{instance=\"{nodeB}\"}}").Single().Value);
        Assert.Equal((20 + 3 + 40 + 50 + 12) / 400.0, prometheus.Query(fleet.Interpolate(Expr(fleet, "Memory in use"))).Single().Value, 6);
        Assert.Equal(5, prometheus.Query(fleet.Interpolate(Expr(fleet, "GPUs", "C"))).Count);

        // A pod the kubelet does not name is shown by its UID; processes outside pods by no name.
        Assert.Equal(
            ["", $"uid {PodUid}"],
            prometheus.Query(fleet.Interpolate(Expr(fleet, "Memory by pod"))).Select(x => x.Labels.GetValueOrDefault("pod", "")).Order(StringComparer.Ordinal));

        // Each Xid code's series appears with its first event counted: the per-interval panel and
        // the hourly rule still count that event (increase() alone sees no change and says 0).
        string xidPanel = fleet.Interpolate(Expr(fleet, "Xid errors per interval"));
        Assert.Equal(
            [("31", 1.0), ("79", 1.0)],
            prometheus.Query($"max by (xid) (max_over_time(({xidPanel})[2m:1s]))").Select(x => (x.Labels["xid"], x.Value)).OrderBy(x => x.Item1, StringComparer.Ordinal));
        Assert.Equal(
            [("31", 1.0), ("79", 1.0)],
            prometheus.Query("instance:gpu_xid_errors:increase1h").Select(x => (x.Labels["xid"], x.Value)).OrderBy(x => x.Item1, StringComparer.Ordinal));

        // One node picked: every query still returns data, and only that node's.
        var one = new GrafanaQueries(prometheus, fleet.Dashboard, DashboardRange, new Dictionary<string, string[]> { ["node"] = [nodeB] });
        Assert.Equal(["0", "1", "2"], one.Options["gpu"]);
        IReadOnlyList<QueryResult> filtered = one.RunAll();
        Assert.Empty(filtered.Where(r => r.Failed).Select(r => r.ToString()));
        Assert.All(filtered.SelectMany(r => r.Series).Where(s => s.ContainsKey("instance")), s => Assert.Equal(nodeB, s["instance"]));
        Assert.Equal(3, prometheus.Query(one.Interpolate(Expr(one, "GPUs up"))).Single().Value);
    }

    [Fact]
    public void Training_dashboard_shows_a_live_finetune_run_beside_its_agent()
    {
        int port = LoopbackPorts.Free();
        using AgentProcess run = AgentProcess.Start(["finetune", "--model", "tiny", "--steps", "100000", "--out", Path.Combine(_dir.Path, "run"), "--metrics-listen", $"127.0.0.1:{port}"]);
        run.WaitForLine("training gauges on", seconds: 120);
        string pid = run.Pid.ToString(CultureInfo.InvariantCulture);
        // The fake driver reports the trainer's own PID on GPU 0, as NVML would for a CUDA run.
        string script = Header() + $"process_name {pid} dotnet\n" + Gpu(0, usedBytes: 12 * GiB, extra: $"process compute {pid} {9 * GiB}\n") + Gpu(1, usedBytes: 1 * GiB);
        using AgentProcess agent = AgentProcess.Start(["agent", "--listen", "127.0.0.1:0", "--nvml-library", FakeDriver.LibraryPath], FakeDriver.Environment(_dir.Path, script));
        Uri agentUri = agent.WaitUntilListening();
        using PrometheusServer prometheus = PrometheusServer.Start(("gputel", agentUri), ("training", new Uri($"http://127.0.0.1:{port}")));
        Wait.Until(() => prometheus.Query("training_steps_total >= 2").Count == 1 && prometheus.Query("count_over_time(training_steps_total[1m]) >= 5").Count == 1,
            "two training steps, scraped five times", seconds: 180);

        var training = new GrafanaQueries(prometheus, GrafanaDashboard.Load(Repo.Path("grafana", "dashboards", "gputel-training.json")), DashboardRange);

        string runId = Assert.Single(training.Options["run"]);
        Assert.Equal(prometheus.Query("training_loss").Single().Labels["run"], runId);
        Assert.Equal(prometheus.Query("count by (phase) (training_memory_bytes)").Select(s => s.Labels["phase"]).Order(StringComparer.Ordinal), training.Options["phase"]);
        Assert.True(training.Options["phase"].Length >= 3, string.Join(", ", training.Options["phase"]));
        Assert.Equal([agentUri.Authority], training.Options["node"]);

        IReadOnlyList<QueryResult> results = training.RunAll();
        Assert.Empty(results.Where(r => r.Failed).Select(r => r.ToString()));
        // The category panel repeats once per phase.
        Assert.Equal(training.Options["phase"].Length, results.Count(r => r.Query.Repeat == "phase" && r.Query.RefId == "A"));

        // The process line is the trainer's NVML memory, joined to its run through the PID.
        string processLine = training.Interpolate(Expr(training, "Memory by category: $phase", "C"));
        var process = prometheus.Query(processLine).Single();
        Assert.Equal(pid, process.Labels["pid"]);
        Assert.Equal(9.0 * GiB, process.Value);
        // Categories stacked per phase add up to the allocator total plus runtime: all nine are there.
        Assert.Equal(9, prometheus.Query($"training_memory_bytes{{phase=\"forward\",run=\"{runId}\"}}").Count);

        // What a run adds to Prometheus (docs/SCALING.md): bytes and peak per category and phase, plus
        // loss, steps and step time.
        int series = (int)prometheus.Query("count({job=\"training\",__name__!~\"up|scrape_.+\"})").Single().Value;
        Assert.Equal((2 * 9 * training.Options["phase"].Length) + 3, series);
        TestContext.Current.TestOutputHelper?.WriteLine($"training run: {series} series ({training.Options["phase"].Length} phases)");
    }

    private static string Expr(GrafanaQueries queries, string panel, string refId = "A") =>
        queries.Dashboard.Queries.First(q => q.Panel == panel && q.RefId == refId).Expr;

    /// <summary>Gives a GPU block node B's own UUID, so the two nodes' GPUs differ.</summary>
    private static string Renamed(string gpu) => gpu.Replace("uuid GPU-00000000-0000-0000-0000-", "uuid GPU-bbbbbbbb-0000-0000-0000-", StringComparison.Ordinal);

    public void Dispose() => _dir.Dispose();
}
