using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Gputel.Tests.Support;

/// <summary>
/// A real Prometheus server (the Debian <c>prometheus</c> package) on loopback, scraping the given
/// targets every second, queried through its HTTP API. Killed and its data removed on dispose.
/// Targets that share a job name are scraped as one job.
/// </summary>
internal sealed class PrometheusServer : IDisposable
{
    private readonly Process _process;
    private readonly TempDirectory _dir = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private PrometheusServer(string scrapeConfigs, string? ruleFile)
    {
        string? binary = new[] { "/usr/bin/prometheus", "/usr/local/bin/prometheus" }.FirstOrDefault(File.Exists);
        Assert.SkipWhen(binary is null, "the Prometheus server is not installed (Debian package 'prometheus'; ./setup.sh installs it)");

        string config = "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n"
            + (ruleFile is null ? string.Empty : $"rule_files: ['{ruleFile}']\n")
            + "scrape_configs:\n" + scrapeConfigs;
        int port = LoopbackPorts.Free();
        BaseUri = new Uri($"http://127.0.0.1:{port}/");
        var psi = new ProcessStartInfo(binary!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList =
            {
                $"--config.file={_dir.File("prometheus.yml", config)}",
                $"--storage.tsdb.path={Path.Combine(_dir.Path, "data")}",
                $"--web.listen-address=127.0.0.1:{port}",
            },
        };
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public Uri BaseUri { get; }

    /// <summary>How often every target is scraped.</summary>
    public static TimeSpan ScrapeInterval { get; } = TimeSpan.FromSeconds(1);

    public static PrometheusServer Start(params (string Job, Uri Target)[] targets) => Start(null, targets);

    /// <summary>Starts a server that also evaluates the recording and alerting rules in <paramref name="ruleFile"/>.</summary>
    public static PrometheusServer Start(string? ruleFile, params (string Job, Uri Target)[] targets) =>
        Started(new PrometheusServer(
            string.Concat(targets.GroupBy(t => t.Job).Select(job =>
                $"  - job_name: {job.Key}\n    static_configs:\n      - targets: [{string.Join(", ", job.Select(t => $"'{t.Target.Authority}'"))}]\n")),
            ruleFile));

    /// <summary>Starts a server with the given <c>scrape_configs</c> entries (YAML list items indented by two spaces).</summary>
    public static PrometheusServer StartWithScrapeConfigs(string scrapeConfigs) => Started(new PrometheusServer(scrapeConfigs, null));

    private static PrometheusServer Started(PrometheusServer server)
    {
        Wait.Until(() => server.IsReady(), "Prometheus to become ready", seconds: 60);
        return server;
    }

    /// <summary>An instant query; returns each series' labels and value.</summary>
    public IReadOnlyList<(Dictionary<string, string> Labels, double Value)> Query(string promql)
    {
        using JsonDocument doc = Get($"api/v1/query?query={Uri.EscapeDataString(promql)}");
        return doc.RootElement.GetProperty("data").GetProperty("result").EnumerateArray()
            .Select(r => (Labels(r), ParseValue(r.GetProperty("value")[1].GetString()!)))
            .ToList();
    }

    /// <summary>The raw samples of a range-vector selector such as <c>m[1m]</c>, per series.</summary>
    public IReadOnlyList<(Dictionary<string, string> Labels, double[] Values)> QueryRange(string selector)
    {
        using JsonDocument doc = Get($"api/v1/query?query={Uri.EscapeDataString(selector)}");
        return doc.RootElement.GetProperty("data").GetProperty("result").EnumerateArray()
            .Select(r => (Labels(r), r.GetProperty("values").EnumerateArray().Select(v => ParseValue(v[1].GetString()!)).ToArray()))
            .ToList();
    }

    /// <summary>
    /// Runs an instant query (<paramref name="step"/> null) or a range query over
    /// [<paramref name="end"/> - <paramref name="range"/>, <paramref name="end"/>]; returns each series'
    /// labels, or Prometheus's error message for a query it rejects.
    /// </summary>
    public (IReadOnlyList<Dictionary<string, string>> Series, string? Error) Evaluate(string promql, DateTimeOffset end, TimeSpan range, TimeSpan? step)
    {
        string path = step is { } s
            ? string.Create(CultureInfo.InvariantCulture, $"api/v1/query_range?query={Uri.EscapeDataString(promql)}&start={(end - range).ToUnixTimeMilliseconds() / 1000.0}&end={end.ToUnixTimeMilliseconds() / 1000.0}&step={s.TotalSeconds}")
            : string.Create(CultureInfo.InvariantCulture, $"api/v1/query?query={Uri.EscapeDataString(promql)}&time={end.ToUnixTimeMilliseconds() / 1000.0}");
        using HttpResponseMessage response = _http.GetAsync(new Uri(BaseUri, path)).GetAwaiter().GetResult();
        using var doc = JsonDocument.Parse(response.Content.ReadAsStringAsync().GetAwaiter().GetResult());
        if (doc.RootElement.GetProperty("status").GetString() != "success")
        {
            return ([], doc.RootElement.GetProperty("error").GetString());
        }

        return (doc.RootElement.GetProperty("data").GetProperty("result").EnumerateArray().Select(Labels).ToList(), null);
    }

    /// <summary>
    /// The values of <paramref name="label"/> on the series <paramref name="match"/> selects (all series
    /// when null), as Grafana's <c>label_values</c> asks for them.
    /// </summary>
    public IReadOnlyList<string> LabelValues(string label, string? match)
    {
        string query = match is null ? string.Empty : $"?match[]={Uri.EscapeDataString(match)}";
        using JsonDocument doc = Get($"api/v1/label/{Uri.EscapeDataString(label)}/values{query}");
        return doc.RootElement.GetProperty("data").EnumerateArray().Select(v => v.GetString()!).ToList();
    }

    /// <summary>The type Prometheus recorded for a metric from its exposition (<c>counter</c>, <c>gauge</c>, ...).</summary>
    public string MetricType(string metric)
    {
        using JsonDocument doc = Get($"api/v1/metadata?metric={Uri.EscapeDataString(metric)}");
        return doc.RootElement.GetProperty("data").GetProperty(metric)[0].GetProperty("type").GetString()!;
    }

    /// <summary>Polls a query until it returns at least one series (or fails after a while).</summary>
    public IReadOnlyList<(Dictionary<string, string> Labels, double Value)> WaitFor(string promql, int seconds = 30)
    {
        IReadOnlyList<(Dictionary<string, string>, double)> result = [];
        Wait.Until(() => (result = Query(promql)).Count > 0, $"Prometheus to return data for {promql}", seconds);
        return result;
    }

    private JsonDocument Get(string pathAndQuery)
    {
        string body = _http.GetStringAsync(new Uri(BaseUri, pathAndQuery)).GetAwaiter().GetResult();
        var doc = JsonDocument.Parse(body);
        Assert.Equal("success", doc.RootElement.GetProperty("status").GetString());
        return doc;
    }

    private bool IsReady()
    {
        Assert.False(_process.HasExited, "Prometheus exited at start-up");
        try
        {
            return _http.GetAsync(new Uri(BaseUri, "-/ready")).GetAwaiter().GetResult().StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private static Dictionary<string, string> Labels(JsonElement result) =>
        result.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);

    private static double ParseValue(string value) => double.Parse(value, CultureInfo.InvariantCulture);

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process.Dispose();
        _http.Dispose();
        _dir.Dispose();
    }
}
