using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary>
/// deploy/prometheus/gputel-alerts.yml checked and unit-tested by promtool (Debian package
/// <c>prometheus</c>), with every alert covered by deploy/prometheus/tests/gputel-alerts.test.yml:
/// a case where it fires and one where it stays quiet, so an alert added without tests fails here.
/// </summary>
public sealed partial class AlertRulesTests : IDisposable
{
    private static readonly string RulesPath = Repo.Path("deploy", "prometheus", "gputel-alerts.yml");
    private static readonly string TestsPath = Repo.Path("deploy", "prometheus", "tests", "gputel-alerts.test.yml");
    private readonly TempDirectory _dir = new();

    private static IReadOnlyList<JsonObject> Rules =>
        [.. Root(RulesPath)["groups"]!.AsArray().SelectMany(g => g!["rules"]!.AsArray()).Select(r => r!.AsObject())];

    private static IReadOnlyList<JsonObject> Alerts => [.. Rules.Where(r => r["alert"] is not null)];

    private static IReadOnlyList<JsonObject> TestCases => [.. Root(TestsPath)["tests"]!.AsArray().Select(t => t!.AsObject())];

    [Fact]
    public void Alert_rules_pass_promtool_check_rules()
    {
        (int exit, string output) = Run(Promtool(), "check", "rules", RulesPath);

        Assert.True(exit == 0, output);
        Assert.Contains($"SUCCESS: {Rules.Count} rules found", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Alert_rules_pass_their_promtool_unit_tests()
    {
        (int exit, string output) = Run(Promtool(), "test", "rules", TestsPath);

        Assert.True(exit == 0, output);
        Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
        Assert.DoesNotContain("FAILED", output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_unit_tests_load_the_shipped_rules_file()
    {
        string[] files = [.. Root(TestsPath)["rule_files"]!.AsArray().Select(f => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(TestsPath)!, (string)f!)))];

        Assert.Equal([Path.GetFullPath(RulesPath)], files);
    }

    [Fact]
    public void Every_alert_has_a_test_where_it_fires_and_one_where_it_does_not()
    {
        JsonObject[] cases = [.. TestCases.SelectMany(t => t["alert_rule_test"]?.AsArray() ?? []).Select(c => c!.AsObject())];
        string[] alerts = [.. Alerts.Select(a => (string)a["alert"]!)];
        Assert.True(alerts.Length >= 11, string.Join(", ", alerts));

        Assert.All(alerts, alert =>
        {
            JsonObject[] mine = [.. cases.Where(c => (string?)c["alertname"] == alert)];
            Assert.True(mine.Any(c => c["exp_alerts"]?.AsArray().Count > 0), $"{alert}: no test case where it fires");
            Assert.True(mine.Any(c => c["exp_alerts"] is null || c["exp_alerts"]!.AsArray().Count == 0), $"{alert}: no test case where it stays quiet");
        });
        // promtool passes a case for an alert the rules do not have (nothing fires): a renamed alert
        // would leave its tests checking nothing.
        Assert.All(cases, c => Assert.Contains((string)c["alertname"]!, alerts));
    }

    [Fact]
    public void Every_recording_rule_of_the_alerts_file_is_evaluated_by_a_unit_test()
    {
        string[] expressions = [.. TestCases.SelectMany(t => t["promql_expr_test"]?.AsArray() ?? []).Select(e => (string)e!["expr"]!)];

        Assert.All(Rules.Where(r => r["record"] is not null).Select(r => (string)r["record"]!),
            record => Assert.Contains(expressions, e => e.Contains(record, StringComparison.Ordinal)));
    }

    [Fact]
    public void Every_alert_has_a_severity_a_for_duration_and_says_where_in_its_summary_and_description()
    {
        Assert.All(Alerts, alert =>
        {
            string name = (string)alert["alert"]!;
            Assert.Contains((string?)alert["labels"]?["severity"], new[] { "critical", "warning" });
            Assert.True(alert["for"] is JsonValue v && Duration().IsMatch((string)v!), $"{name}: no for: duration");
            foreach (string key in new[] { "summary", "description" })
            {
                string text = (string?)alert["annotations"]?[key] ?? string.Empty;
                // The host (agent instance or the run's node) and the GPU or the run.
                Assert.True(text.Contains("$labels.instance", StringComparison.Ordinal) || text.Contains("$labels.node", StringComparison.Ordinal), $"{name}: {key} names no host");
                Assert.True(text.Contains("$labels.gpu", StringComparison.Ordinal) || text.Contains("$labels.run", StringComparison.Ordinal), $"{name}: {key} names no GPU or run");
            }
        });
    }

    [Fact]
    public void Prometheus_configuration_loads_the_alert_rules_beside_the_recording_rules()
    {
        string promtool = Promtool();
        // The configuration's own rule_files, in a configuration without its scrape jobs (Debian's
        // promtool lacks Kubernetes discovery; DeployTests checks the rest).
        JsonArray ruleFiles = Root(Repo.Path("deploy", "prometheus", "prometheus.yml"))["rule_files"]!.AsArray();
        string config = _dir.File("prometheus.yml", "rule_files:\n" + string.Concat(ruleFiles.Select(f => $"  - \"{(string)f!}\"\n")));
        foreach (string file in new[] { "gputel-rules.yml", "gputel-alerts.yml" })
        {
            File.Copy(Repo.Path("deploy", "prometheus", file), Path.Combine(_dir.Path, file));
        }

        (int exit, string output) = Run(promtool, "check", "config", config);

        Assert.True(exit == 0, output);
        Assert.Contains("SUCCESS: 2 rule files found", output, StringComparison.Ordinal);
        Assert.Contains($"SUCCESS: {Rules.Count} rules found", output, StringComparison.Ordinal);
    }

    private static JsonObject Root(string path) => YamlDocuments.Load(path).Single()!.AsObject();

    private static string Promtool()
    {
        string? path = new[] { "/usr/bin/", "/usr/local/bin/", "/bin/" }.Select(d => d + "promtool").FirstOrDefault(File.Exists);
        Assert.SkipWhen(path is null, "promtool is not installed (the Debian package 'prometheus'; ./setup.sh installs it)");
        return path!;
    }

    private static (int Exit, string Output) Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process process = Process.Start(psi)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(120)), $"{program} did not finish");
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    [GeneratedRegex(@"^[0-9]+(ms|s|m|h)$")]
    private static partial Regex Duration();

    public void Dispose() => _dir.Dispose();
}
