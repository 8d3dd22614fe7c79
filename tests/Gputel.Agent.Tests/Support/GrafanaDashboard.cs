using System.Text.Json;

namespace Gputel.Tests.Support;

/// <summary>A Grafana dashboard JSON file read for its queries: template variables and panel targets.</summary>
internal sealed class GrafanaDashboard
{
    private GrafanaDashboard(string path, JsonElement root)
    {
        Path = path;
        Root = root;
        Variables = root.GetProperty("templating").GetProperty("list").EnumerateArray().Select(DashboardVariable.From).ToList();
        Panels = Flatten(root.GetProperty("panels")).ToList();
    }

    public string Path { get; }

    public JsonElement Root { get; }

    /// <summary>Template variables in the order Grafana resolves them (the order of the list).</summary>
    public IReadOnlyList<DashboardVariable> Variables { get; }

    /// <summary>Every panel, those inside collapsed rows included; rows themselves too.</summary>
    public IReadOnlyList<JsonElement> Panels { get; }

    /// <summary>The PromQL targets of every panel (hidden ones left out, as Grafana does).</summary>
    public IEnumerable<PanelQuery> Queries =>
        from panel in Panels
        where panel.TryGetProperty("targets", out _)
        from target in panel.GetProperty("targets").EnumerateArray()
        where target.TryGetProperty("expr", out _) && !(target.TryGetProperty("hide", out JsonElement hide) && hide.GetBoolean())
        select new PanelQuery(
            panel.GetProperty("title").GetString()!,
            panel.TryGetProperty("repeat", out JsonElement repeat) ? repeat.GetString() : null,
            target.GetProperty("refId").GetString()!,
            target.GetProperty("expr").GetString()!,
            target.TryGetProperty("instant", out JsonElement instant) && instant.GetBoolean());

    public static GrafanaDashboard Load(string path) =>
        new(path, JsonDocument.Parse(File.ReadAllText(path)).RootElement.Clone());

    private static IEnumerable<JsonElement> Flatten(JsonElement panels)
    {
        foreach (JsonElement panel in panels.EnumerateArray())
        {
            yield return panel;
            if (panel.TryGetProperty("panels", out JsonElement inner))
            {
                foreach (JsonElement p in Flatten(inner))
                {
                    yield return p;
                }
            }
        }
    }
}

/// <summary>One target of one panel. <paramref name="Repeat"/> names the variable the panel repeats over.</summary>
internal sealed record PanelQuery(string Panel, string? Repeat, string RefId, string Expr, bool Instant)
{
    public override string ToString() => $"'{Panel}' {RefId}: {Expr}";
}

/// <summary>A template variable: <c>query</c> variables carry PromQL-ish text (<c>label_values(...)</c>).</summary>
internal sealed record DashboardVariable(string Name, string Type, string? Query, bool Multi, bool IncludeAll, string? AllValue, string? Regex)
{
    public static DashboardVariable From(JsonElement v)
    {
        string type = v.GetProperty("type").GetString()!;
        string? query = null;
        if (type == "query" && v.TryGetProperty("query", out JsonElement q))
        {
            // Grafana 10+ stores an object {query, qryType, refId}; older dashboards a plain string.
            query = q.ValueKind == JsonValueKind.Object ? q.GetProperty("query").GetString() : q.GetString();
        }

        return new DashboardVariable(
            v.GetProperty("name").GetString()!,
            type,
            query,
            v.TryGetProperty("multi", out JsonElement multi) && multi.GetBoolean(),
            v.TryGetProperty("includeAll", out JsonElement all) && all.GetBoolean(),
            v.TryGetProperty("allValue", out JsonElement allValue) && allValue.ValueKind == JsonValueKind.String ? allValue.GetString() : null,
            v.TryGetProperty("regex", out JsonElement regex) && regex.GetString() is { Length: > 0 } r ? r : null);
    }
}
