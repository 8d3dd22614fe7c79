using System.Globalization;
using System.Text.RegularExpressions;

namespace Gputel.Tests.Support;

/// <summary>
/// Runs a dashboard's queries against a Prometheus server the way Grafana's Prometheus data source
/// does: template variables resolved in order (<c>label_values</c>, <c>query_result</c>), their
/// values substituted for <c>$var</c>, <c>${var}</c>, <c>${var:fmt}</c> and <c>[[var]]</c> with
/// Grafana's escaping (regex-escaped and joined as <c>(a|b)</c> for multi-value and All variables),
/// the built-ins <c>$__interval</c>, <c>$__rate_interval</c>, <c>$__range</c> derived from the time
/// range and the data source's scrape interval, repeated panels run once per value, and range queries
/// for graph targets, instant queries for <c>instant</c> ones.
/// </summary>
internal sealed partial class GrafanaQueries
{
    // Grafana's interval: time range over the panel's data points, never below the scrape interval
    // (the data source's "timeInterval"). A 5-minute range at ~1,000 points is below 1 s.
    private const int MaxDataPoints = 1000;

    private readonly PrometheusServer _prometheus;
    private readonly Dictionary<string, string[]> _selected = [];
    private readonly Dictionary<string, DashboardVariable> _variables = [];
    private readonly DateTimeOffset _end = DateTimeOffset.UtcNow;

    public GrafanaQueries(PrometheusServer prometheus, GrafanaDashboard dashboard, TimeSpan range, IReadOnlyDictionary<string, string[]>? selections = null)
    {
        _prometheus = prometheus;
        Dashboard = dashboard;
        Range = range;
        TimeSpan scrape = PrometheusServer.ScrapeInterval;
        Interval = TimeSpan.FromSeconds(Math.Max(scrape.TotalSeconds, Math.Round(range.TotalSeconds / MaxDataPoints)));
        RateInterval = TimeSpan.FromSeconds(Math.Max((Interval + scrape).TotalSeconds, 4 * scrape.TotalSeconds));
        foreach (DashboardVariable variable in dashboard.Variables.Where(v => v.Type == "query"))
        {
            Options[variable.Name] = Resolve(variable);
            _variables[variable.Name] = variable;
            _selected[variable.Name] = selections is not null && selections.TryGetValue(variable.Name, out string[]? chosen) ? chosen
                : variable.IncludeAll ? Options[variable.Name]
                : Options[variable.Name].Take(1).ToArray();
        }
    }

    public GrafanaDashboard Dashboard { get; }

    public TimeSpan Range { get; }

    public TimeSpan Interval { get; }

    public TimeSpan RateInterval { get; }

    /// <summary>The values each query variable offers, as its drop-down would list them.</summary>
    public Dictionary<string, string[]> Options { get; } = [];

    /// <summary>Runs every query of the dashboard; repeated panels once per selected value of their variable.</summary>
    public IReadOnlyList<QueryResult> RunAll()
    {
        var results = new List<QueryResult>();
        foreach (PanelQuery query in Dashboard.Queries)
        {
            if (query.Repeat is { } repeat)
            {
                string[] all = _selected[repeat];
                foreach (string value in all)
                {
                    _selected[repeat] = [value];
                    results.Add(Run(query));
                }

                _selected[repeat] = all;
            }
            else
            {
                results.Add(Run(query));
            }
        }

        return results;
    }

    /// <summary>Substitutes variables in <paramref name="text"/> as Grafana does before sending a query.</summary>
    public string Interpolate(string text) => VariableReference().Replace(text, m =>
    {
        string name = m.Groups["a"].Success ? m.Groups["a"].Value : m.Groups["b"].Success ? m.Groups["b"].Value : m.Groups["c"].Value;
        return name switch
        {
            "__interval" => Duration(Interval),
            "__interval_ms" => ((long)Interval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
            "__rate_interval" => Duration(RateInterval),
            "__range" => Duration(Range),
            "__range_s" => ((long)Range.TotalSeconds).ToString(CultureInfo.InvariantCulture),
            "__range_ms" => ((long)Range.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
            _ when _variables.TryGetValue(name, out DashboardVariable? variable) => Format(variable, _selected[name]),
            // A regular expression's group in label_replace ("$1"): no variable has such a name, and
            // Grafana leaves a reference to an undefined one as it is.
            _ when name.All(char.IsAsciiDigit) => m.Value,
            _ => throw new InvalidOperationException($"'{text}' refers to ${name}, which the dashboard does not define"),
        };
    });

    private QueryResult Run(PanelQuery query)
    {
        string expr = Interpolate(query.Expr);
        var (series, error) = _prometheus.Evaluate(expr, _end, Range, query.Instant ? null : Interval);
        return new QueryResult(query, expr, series, error);
    }

    private string[] Resolve(DashboardVariable variable)
    {
        string query = Interpolate(variable.Query ?? throw new InvalidOperationException($"variable {variable.Name} has no query"));
        IEnumerable<string> values;
        if (LabelValuesCall().Match(query) is { Success: true } lv)
        {
            values = _prometheus.LabelValues(lv.Groups["label"].Value, lv.Groups["match"].Success ? lv.Groups["match"].Value : null);
        }
        else if (QueryResultCall().Match(query) is { Success: true } qr)
        {
            var (series, error) = _prometheus.Evaluate(qr.Groups["expr"].Value, _end, Range, null);
            Assert.Null(error);
            values = series.Select(s => s.TryGetValue("__name__", out string? n) ? n + "{" + string.Join(",", s.Where(l => l.Key != "__name__").Select(l => $"{l.Key}=\"{l.Value}\"")) + "}" : string.Empty);
        }
        else
        {
            throw new InvalidOperationException($"variable {variable.Name}: '{query}' is not a query Grafana's Prometheus data source understands here");
        }

        if (variable.Regex is { } pattern)
        {
            var regex = new Regex(pattern.Trim('/'));
            values = values.Select(v => regex.Match(v)).Where(m => m.Success).Select(m => m.Groups.Count > 1 ? m.Groups[1].Value : m.Value);
        }

        return values.Distinct().Order(StringComparer.Ordinal).ToArray();
    }

    // Grafana's Prometheus data source: a single-value variable is escaped for a PromQL string only;
    // a multi-value or All variable is regex-escaped and joined into one alternation.
    private static string Format(DashboardVariable variable, string[] values)
    {
        if (!variable.Multi && !variable.IncludeAll)
        {
            return RegularEscape(values.Single());
        }

        if (variable.IncludeAll && variable.AllValue is { } allValue && values.Length > 1)
        {
            return allValue;
        }

        string[] escaped = values.Select(RegexEscape).ToArray();
        return escaped.Length == 1 ? escaped[0] : "(" + string.Join('|', escaped) + ")";
    }

    private static string RegularEscape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\\\'", StringComparison.Ordinal);

    private static string RegexEscape(string value) =>
        RegexSpecial().Replace(value.Replace("\\", "\\\\\\\\", StringComparison.Ordinal), m => "\\\\" + m.Value);

    private static string Duration(TimeSpan span) =>
        span.TotalSeconds % 60 == 0 ? $"{(long)span.TotalMinutes}m" : $"{(long)span.TotalSeconds}s";

    [GeneratedRegex(@"\$(?<a>\w+)|\$\{(?<b>\w+)(?::\w+)?\}|\[\[(?<c>\w+)\]\]")]
    private static partial Regex VariableReference();

    [GeneratedRegex(@"^\s*label_values\(\s*(?:(?<match>.+?)\s*,\s*)?(?<label>\w+)\s*\)\s*$")]
    private static partial Regex LabelValuesCall();

    [GeneratedRegex(@"^\s*query_result\((?<expr>.+)\)\s*$")]
    private static partial Regex QueryResultCall();

    [GeneratedRegex(@"[$^*{}\[\]'+?.()|]")]
    private static partial Regex RegexSpecial();
}

/// <summary>What one panel target returned: the series' labels, or Prometheus's error.</summary>
internal sealed record QueryResult(PanelQuery Query, string Expr, IReadOnlyList<Dictionary<string, string>> Series, string? Error)
{
    public bool Failed => Error is not null || Series.Count == 0;

    public override string ToString() => $"{Query} -> {Error ?? (Series.Count == 0 ? "no data" : $"{Series.Count} series")} (sent: {Expr})";
}
