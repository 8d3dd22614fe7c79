using System.Globalization;
using System.Net;
using System.Text;
using Gputel.Core.Memory;
using Gputel.Core.Training;

namespace Gputel.Core.Reports;

/// <summary>
/// <c>report.html</c>: one self-contained page (inline CSS and SVG, no external scripts, fonts or
/// images). Every number on it carries its exact value in a <c>data-bytes</c> attribute (with
/// <c>data-category</c>, <c>data-phase</c>, <c>data-window</c> saying what it is), so the page can be
/// checked against <c>summary.json</c> by a program.
/// </summary>
internal static class HtmlReport
{
    private const double Left = 86, Right = 985, Top = 16, Bottom = 380, Width = 1000, Height = 430;

    public static string Render(RunSummary summary, ChartSeries chart, IReadOnlyDictionary<string, string>? settings)
    {
        var html = new StringBuilder(64 * 1024);
        string title = summary.RunId ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(summary.RunDirectory));
        html.Append(CultureInfo.InvariantCulture, $$"""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>Training memory: {{E(title)}}</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1040px; color: #1f1f1f; }
            table { border-collapse: collapse; margin: 8px 0 20px; }
            th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: right; }
            th:first-child, td:first-child { text-align: left; }
            .status { padding: 2px 8px; border-radius: 4px; color: #fff; }
            .status-complete { background: #2e7d32; } .status-in_progress { background: #1565c0; } .status-cut_off, .status-failed { background: #c62828; }
            .warnings li { color: #8a4b00; }
            .legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 16px; }
            .swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: middle; }
            svg text { font-size: 12px; fill: #444; }
            .formula { text-align: left; color: #555; font-size: 90%; }
            </style>
            </head>
            <body>
            <h1>Training memory: {{E(title)}}</h1>
            <p>{{E(Describe(summary))}}</p>
            <p>Status: <span class="status status-{{StatusName(summary.Status)}}" data-field="status" data-status="{{StatusName(summary.Status)}}">{{StatusText(summary.Status)}}</span> {{E(summary.StatusDetail)}}</p>

            """);
        if (summary.Peak is { } peak)
        {
            html.Append(CultureInfo.InvariantCulture, $"""
                <p>Peak: <strong><span data-field="peak-total" data-step="{peak.Step}" data-phase="{E(peak.Phase.Name)}" data-bytes="{peak.TotalBytes}">{ByteText.Format(peak.TotalBytes)}</span></strong> at step {peak.Step}, {E(peak.Phase.Name)}
                (<span data-field="peak-allocator" data-bytes="{peak.PeakBytes}">{E(summary.DescribePeakScope())}</span>: {E(peak.DescribeBasis())}).</p>

                """);
        }

        AppendWarnings(html, summary.Warnings);
        AppendChart(html, summary, chart);
        AppendTopConsumers(html, summary);
        AppendSites(html, summary);
        AppendPhasePeaks(html, summary);
        AppendEstimate(html, summary.Estimate);
        AppendSettings(html, settings);
        // Records what the browser drew (boxes of the chart and its shapes) as data attributes, so
        // an automated check of the page reads them from the rendered DOM. It changes nothing shown.
        html.Append("""
            <script>
            (function () {
              var svg = document.getElementById('chart');
              var r = svg.getBoundingClientRect();
              svg.setAttribute('data-drawn-box', [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height].map(Math.round).join(' '));
              svg.querySelectorAll('path').forEach(function (p) {
                var b = p.getBBox();
                p.setAttribute('data-drawn-width', b.width.toFixed(1));
                p.setAttribute('data-drawn-height', b.height.toFixed(1));
              });
            })();
            </script>
            </body>
            </html>

            """);
        return html.ToString();
    }

    internal static string StatusName(RunStatus status) => status switch
    {
        RunStatus.Complete => "complete",
        RunStatus.InProgress => "in_progress",
        RunStatus.Failed => "failed",
        _ => "cut_off",
    };

    internal static string StatusText(RunStatus status) => status switch
    {
        RunStatus.Complete => "complete",
        RunStatus.InProgress => "in progress",
        RunStatus.Failed => "failed",
        _ => "cut off",
    };

    internal static string Describe(RunSummary s) => string.Create(CultureInfo.InvariantCulture,
        $"model {s.Model ?? "unknown"}, {s.Method ?? "unknown method"}, {s.Dtype ?? "unknown dtype"} on {s.Device ?? "an unknown device"}; {s.Steps} steps recorded ({s.PhaseLines} phase lines), {s.Samples.Count} samples; record: {s.RunDirectory}");

    private static void AppendWarnings(StringBuilder html, IReadOnlyList<string> warnings)
    {
        html.Append("<h2>Warnings</h2>\n");
        if (warnings.Count == 0)
        {
            html.Append("<p data-field=\"no-warnings\">None.</p>\n");
            return;
        }

        html.Append("<ul class=\"warnings\">\n");
        foreach (string w in warnings)
        {
            html.Append("<li data-warning>").Append(E(w)).Append("</li>\n");
        }

        html.Append("</ul>\n");
    }

    private static void AppendChart(StringBuilder html, RunSummary summary, ChartSeries chart)
    {
        html.Append("<h2>Memory by category, step by step and phase by phase</h2>\n");
        double yScale = Math.Max(1, chart.YMax * 1.05), xScale = chart.XMax;
        double X(double x) => Left + (x / xScale * (Right - Left));
        double Y(double y) => Bottom - (y / yScale * (Bottom - Top));

        html.Append(CultureInfo.InvariantCulture, $"<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {Width} {Height}\" width=\"{Width}\" height=\"{Height}\" style=\"max-width:100%;height:auto\" role=\"img\" aria-label=\"stacked memory by category over steps and phases\">\n");
        html.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{Right - Left}\" height=\"{Bottom - Top}\" fill=\"#fafafa\" stroke=\"#ccc\"/>\n");
        // The line can leave the plot (malloc below the baseline the categories start from): clip it.
        html.Append(CultureInfo.InvariantCulture, $"<defs><clipPath id=\"plot-area\"><rect x=\"{Left}\" y=\"{Top}\" width=\"{Right - Left}\" height=\"{Bottom - Top}\"/></clipPath></defs>\n");
        foreach ((long bytes, string label) in ChartSeries.YTicks((long)yScale))
        {
            double y = Y(bytes);
            html.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left:0.#}\" x2=\"{Right:0.#}\" y1=\"{y:0.#}\" y2=\"{y:0.#}\" stroke=\"#e4e4e4\"/><text x=\"{Left - 6:0.#}\" y=\"{y + 4:0.#}\" text-anchor=\"end\">{label}</text>\n");
        }

        foreach ((double x, int step) in chart.StepTicks)
        {
            html.Append(CultureInfo.InvariantCulture, $"<line x1=\"{X(x):0.#}\" x2=\"{X(x):0.#}\" y1=\"{Bottom}\" y2=\"{Bottom + 5}\" stroke=\"#888\"/><text x=\"{X(x):0.#}\" y=\"{Bottom + 18}\" text-anchor=\"middle\">{step}</text>\n");
        }

        html.Append(CultureInfo.InvariantCulture, $"<text x=\"{(Left + Right) / 2}\" y=\"{Bottom + 38}\" text-anchor=\"middle\">step (each step's phases in order: {E(string.Join(", ", summary.Phases))})</text>\n");

        var drawn = new List<string>();
        for (int c = 0; c < chart.StackOrder.Count; c++)
        {
            if (chart.Bands.All(b => b.Tops[c] == (c == 0 ? 0 : b.Tops[c - 1])))
            {
                continue; // nothing of this category anywhere: no empty shape, no legend entry
            }

            string category = chart.StackOrder[c];
            drawn.Add(category);
            var d = new StringBuilder();
            foreach (ChartBand b in chart.Bands)
            {
                d.Append(CultureInfo.InvariantCulture, $"{(d.Length == 0 ? 'M' : 'L')}{X(b.X0):0.#},{Y(b.Tops[c]):0.#}L{X(b.X1):0.#},{Y(b.Tops[c]):0.#}");
            }

            for (int i = chart.Bands.Count - 1; i >= 0; i--)
            {
                ChartBand b = chart.Bands[i];
                long lower = c == 0 ? 0 : b.Tops[c - 1];
                d.Append(CultureInfo.InvariantCulture, $"L{X(b.X1):0.#},{Y(lower):0.#}L{X(b.X0):0.#},{Y(lower):0.#}");
            }

            html.Append(CultureInfo.InvariantCulture, $"<path class=\"area\" data-category=\"{E(category)}\" d=\"{d}Z\" fill=\"{MemoryCategories.ColourOf(category)}\" fill-opacity=\"0.9\" stroke=\"none\"/>\n");
        }

        if (chart.Line.Count > 0)
        {
            var d = new StringBuilder();
            foreach ((double x, long y) in chart.Line)
            {
                d.Append(CultureInfo.InvariantCulture, $"{(d.Length == 0 ? 'M' : 'L')}{X(x):0.##},{Y(y):0.#}");
            }

            html.Append(CultureInfo.InvariantCulture, $"<path class=\"device-line\" d=\"{d}\" fill=\"none\" stroke=\"{ChartSeries.LineColour}\" stroke-width=\"1.5\" clip-path=\"url(#plot-area)\"/>\n");
        }

        // Transparent bands on top: hovering one names the phase and its total.
        foreach (ChartBand b in chart.Bands)
        {
            html.Append(CultureInfo.InvariantCulture, $"<rect class=\"band\" x=\"{X(b.X0):0.##}\" y=\"{Top}\" width=\"{X(b.X1) - X(b.X0):0.##}\" height=\"{Bottom - Top}\" fill=\"transparent\"><title>{E(b.Label)}</title></rect>\n");
        }

        html.Append("</svg>\n<ul class=\"legend\">\n");
        foreach (string category in drawn)
        {
            html.Append(CultureInfo.InvariantCulture, $"<li data-legend=\"{E(category)}\"><span class=\"swatch\" style=\"background:{MemoryCategories.ColourOf(category)}\"></span>{E(category)}</li>\n");
        }

        if (chart.Line.Count > 0)
        {
            html.Append(CultureInfo.InvariantCulture, $"<li data-legend=\"line\"><span class=\"swatch\" style=\"background:{ChartSeries.LineColour};height:2px\"></span>line: {E(summary.Samples.Source)}</li>\n");
        }

        html.Append("</ul>\n<p>Each band is a phase, as at its peak: its categories at its end (at its start for backward, which frees the activations it began with), with the phase's temporary memory stacked on top to reach the peak.");
        if (chart.Bands.Count > 0 && chart.Bands[0].X1 - chart.Bands[0].X0 > 1)
        {
            html.Append(CultureInfo.InvariantCulture, $" This long run is drawn in {chart.Bands.Count} bands of {chart.Bands[0].X1 - chart.Bands[0].X0:0} phases, each showing the highest of them; the line keeps each column's lowest and highest sample.");
        }

        html.Append(" Negative unattributed memory is drawn as none; the tables give it with its sign.</p>\n");
    }

    private static void AppendTopConsumers(StringBuilder html, RunSummary summary)
    {
        html.Append("<h2>Top consumers at the peak</h2>\n");
        if (summary.Peak is null)
        {
            html.Append("<p>No peak: no step was recorded.</p>\n");
            return;
        }

        html.Append("<table data-table=\"top-consumers\">\n<tr><th>category</th><th>bytes</th><th>share of peak</th></tr>\n");
        foreach (CategoryShare c in summary.TopConsumers)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr data-category=\"{E(c.Category)}\" data-bytes=\"{c.Bytes}\"><td>{E(c.Category)}</td><td>{ByteText.Format(c.Bytes)}</td><td>{c.Share:0.0%}</td></tr>\n");
        }

        html.Append("</table>\n");
    }

    private static void AppendSites(StringBuilder html, RunSummary summary)
    {
        if (summary.AllocationSites.Count == 0)
        {
            return;
        }

        html.Append("<h2>Allocation sites at the peak</h2>\n<p>The lines that asked for the memory in use at the peak (the innermost frame outside PyTorch), largest first.</p>\n");
        html.Append("<table data-table=\"sites\">\n<tr><th>site</th><th>category</th><th>bytes</th><th>blocks</th></tr>\n");
        foreach (Snapshots.AllocationSite s in summary.AllocationSites)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr data-bytes=\"{s.Bytes}\"><td class=\"formula\">{E(s.Site)}</td><td>{E(s.Category)}</td><td>{ByteText.Format(s.Bytes)}</td><td>{s.Blocks}</td></tr>\n");
        }

        html.Append("</table>\n");
    }

    private static void AppendPhasePeaks(StringBuilder html, RunSummary summary)
    {
        html.Append("<h2>Peak per phase</h2>\n<p>For each phase, the step (1 or later) where its allocator peak was highest, and step 0 apart (it includes one-time set-up). Bytes as at the phase's peak: its end's categories, or its start's where it fell from there (backward), with temporary as the peak above that figure.</p>\n");
        if (summary.PhasePeaks.Count == 0)
        {
            html.Append("<p>No phases recorded.</p>\n");
            return;
        }

        foreach ((string window, string heading, Func<PhasePeak, PhaseMemory?> pick) in new (string, string, Func<PhasePeak, PhaseMemory?>)[]
        {
            ("later", "Steps 1 and later (highest of each phase)", p => p.LaterSteps),
            ("step0", "Step 0", p => p.Step0),
        })
        {
            PhasePeak[] shown = summary.PhasePeaks.Where(p => pick(p) is not null).ToArray();
            if (shown.Length == 0)
            {
                continue;
            }

            html.Append(CultureInfo.InvariantCulture, $"<h3>{heading}</h3>\n<table data-table=\"phase-peaks\" data-window=\"{window}\">\n<tr><th>category</th>");
            foreach (PhasePeak p in shown)
            {
                html.Append(CultureInfo.InvariantCulture, $"<th>{E(p.Phase.Name)} (step {pick(p)!.Step})</th>");
            }

            html.Append("</tr>\n");
            foreach (string category in pick(shown[0])!.Bytes.Keys)
            {
                html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(category)}</td>");
                foreach (PhasePeak p in shown)
                {
                    long b = pick(p)!.Bytes[category];
                    html.Append(CultureInfo.InvariantCulture, $"<td data-phase=\"{E(p.Phase.Name)}\" data-window=\"{window}\" data-category=\"{E(category)}\" data-bytes=\"{b}\">{ByteText.Format(b)}</td>");
                }

                html.Append("</tr>\n");
            }

            foreach ((string field, string label, Func<PhaseMemory, long> value) in new (string, string, Func<PhaseMemory, long>)[]
            {
                ("total", "total (stacked)", m => m.TotalBytes),
                ("allocator", "allocator at end", m => m.AllocatorBytes),
                ("peak", "allocator peak in phase", m => m.PeakBytes),
            })
            {
                html.Append(CultureInfo.InvariantCulture, $"<tr><td><strong>{label}</strong></td>");
                foreach (PhasePeak p in shown)
                {
                    long b = value(pick(p)!);
                    html.Append(CultureInfo.InvariantCulture, $"<td data-phase=\"{E(p.Phase.Name)}\" data-window=\"{window}\" data-field=\"{field}\" data-step=\"{pick(p)!.Step}\" data-bytes=\"{b}\"><strong>{ByteText.Format(b)}</strong></td>");
                }

                html.Append("</tr>\n");
            }

            html.Append("</table>\n");
        }
    }

    private static void AppendEstimate(StringBuilder html, EstimateSummary? estimate)
    {
        html.Append("<h2>Estimate versus measured</h2>\n");
        if (estimate is null)
        {
            html.Append("<p>No estimate (see warnings).</p>\n");
            return;
        }

        html.Append(CultureInfo.InvariantCulture, $"<p>The estimator's figures for this configuration at its predicted peak ({E(estimate.PeakPhase.Name)}), beside the measured peak's categories. At a backward peak the measured categories are those backward began with (the end of forward: every activation alive) and temporary is what it allocated above them, as the estimate counts them.</p>\n");
        html.Append("<table data-table=\"estimate\">\n<tr><th>category</th><th>estimate</th><th>measured</th><th>measured − estimate</th><th class=\"formula\">formula</th></tr>\n");
        foreach (CategoryEstimate c in estimate.Categories)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr data-category=\"{E(c.Category)}\" data-estimate-bytes=\"{c.EstimateBytes}\" data-measured-bytes=\"{c.MeasuredBytes}\"><td>{E(c.Category)}</td><td>{ByteText.Format(c.EstimateBytes)}</td><td>{ByteText.Format(c.MeasuredBytes)}</td><td>{ByteText.Format(c.MeasuredBytes - c.EstimateBytes)}</td><td class=\"formula\">{E(c.Formula)}</td></tr>\n");
        }

        html.Append(CultureInfo.InvariantCulture, $"<tr data-field=\"total\" data-estimate-bytes=\"{estimate.PeakBytes}\" data-measured-bytes=\"{estimate.MeasuredPeakBytes}\"><td><strong>total</strong></td><td><strong>{ByteText.Format(estimate.PeakBytes)}</strong></td><td><strong>{ByteText.Format(estimate.MeasuredPeakBytes)}</strong></td><td>{ByteText.Format(estimate.MeasuredPeakBytes - estimate.PeakBytes)}</td><td></td></tr>\n");
        html.Append(CultureInfo.InvariantCulture, $"<tr data-field=\"model-state-only\" data-bytes=\"{estimate.ModelStateOnlyBytes}\"><td>model state only (the common tables)</td><td>{ByteText.Format(estimate.ModelStateOnlyBytes)}</td><td></td><td>{ByteText.Format(estimate.MeasuredPeakBytes - estimate.ModelStateOnlyBytes)}</td><td class=\"formula\">{E(estimate.ModelStateOnlyFormula)}</td></tr>\n");
        html.Append("</table>\n");
    }

    private static void AppendSettings(StringBuilder html, IReadOnlyDictionary<string, string>? settings)
    {
        if (settings is null || settings.Count == 0)
        {
            return;
        }

        html.Append("<h2>Settings</h2>\n<table data-table=\"settings\">\n");
        foreach ((string key, string value) in settings)
        {
            html.Append("<tr><td>").Append(E(key)).Append("</td><td>").Append(E(value)).Append("</td></tr>\n");
        }

        html.Append("</table>\n");
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
