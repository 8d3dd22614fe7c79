using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using SkiaSharp;

namespace Gputel.Profiler.Tests.Reports;

/// <summary>report.html of a real run, opened in headless Chromium: what it draws and the numbers it shows.</summary>
public sealed partial class ReportInChromiumTests(RealRunReport run) : IClassFixture<RealRunReport>
{
    [GeneratedRegex("""<(?<tag>[a-z]+)(?<attrs>\s[^>]*)?>""")]
    private static partial Regex Element();

    [GeneratedRegex("""(?<name>[a-z-]+)(="(?<value>[^"]*)")?""")]
    private static partial Regex Attribute();

    /// <summary>Every element of the rendered DOM with its attributes (enough for the page's flat markup).</summary>
    private static List<(string Tag, Dictionary<string, string> Attributes)> Elements(string dom) =>
        Element().Matches(dom).Select(m => (m.Groups["tag"].Value, Attribute().Matches(m.Groups["attrs"].Value)
            .GroupBy(a => a.Groups["name"].Value).ToDictionary(g => g.Key, g => System.Net.WebUtility.HtmlDecode(g.First().Groups["value"].Value)))).ToList();

    private JsonElement Summary()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(run.Files.SummaryJson));
        return doc.RootElement.Clone();
    }

    [Fact]
    public void The_rendered_chart_has_drawn_areas_and_the_sampled_line()
    {
        Chromium.Require();
        var elements = Elements(Chromium.DumpDom(run.Files.Html));

        var paths = elements.Where(e => e.Tag == "path").ToList();
        var areas = paths.Where(p => p.Attributes.GetValueOrDefault("class") == "area").ToList();
        Assert.Contains(areas, a => a.Attributes["data-category"] == "weights");
        Assert.Contains(areas, a => a.Attributes["data-category"] == "activations");
        Assert.Single(paths, p => p.Attributes.GetValueOrDefault("class") == "device-line");
        foreach (var (_, a) in paths)
        {
            // Written by the page's script from getBBox(): the browser drew each shape with a size.
            Assert.True(double.Parse(a["data-drawn-width"], CultureInfo.InvariantCulture) > 0, $"{a.GetValueOrDefault("data-category", "line")} has no width");
            Assert.True(double.Parse(a["data-drawn-height"], CultureInfo.InvariantCulture) > 0, $"{a.GetValueOrDefault("data-category", "line")} has no height");
        }

        // The legend names what is drawn, nothing more.
        Assert.Equal(areas.Select(a => a.Attributes["data-category"]).Append("line"),
            elements.Where(e => e.Attributes.ContainsKey("data-legend")).Select(e => e.Attributes["data-legend"]));
    }

    [Fact]
    public void The_numbers_on_the_page_are_the_summarys()
    {
        Chromium.Require();
        var elements = Elements(Chromium.DumpDom(run.Files.Html));
        JsonElement summary = Summary();
        Dictionary<string, string> Field(string name) => elements.Single(e => e.Tag != "td" && e.Attributes.GetValueOrDefault("data-field") == name).Attributes;

        Assert.Equal(summary.GetProperty("status").GetString(), Field("status")["data-status"]);
        JsonElement peak = summary.GetProperty("peak");
        Assert.Equal(peak.GetProperty("total_bytes").GetInt64().ToString(CultureInfo.InvariantCulture), Field("peak-total")["data-bytes"]);
        Assert.Equal(peak.GetProperty("peak_bytes").GetInt64().ToString(CultureInfo.InvariantCulture), Field("peak-allocator")["data-bytes"]);

        var top = elements.Where(e => e.Tag == "tr" && e.Attributes.ContainsKey("data-category") && e.Attributes.ContainsKey("data-bytes")).ToList();
        Assert.Equal(
            summary.GetProperty("top_consumers").EnumerateArray().Select(c => (c.GetProperty("category").GetString(), c.GetProperty("bytes").GetInt64().ToString(CultureInfo.InvariantCulture))),
            top.Select(t => ((string?)t.Attributes["data-category"], t.Attributes["data-bytes"])));

        var cells = elements.Where(e => e.Tag == "td" && e.Attributes.ContainsKey("data-window")).ToList();
        foreach (JsonElement phase in summary.GetProperty("phase_peaks").EnumerateArray())
        {
            foreach ((string window, string property) in new[] { ("step0", "step0"), ("later", "later_steps") })
            {
                JsonElement memory = phase.GetProperty(property);
                string name = phase.GetProperty("phase").GetString()!;
                var mine = cells.Where(c => c.Attributes["data-phase"] == name && c.Attributes["data-window"] == window).ToList();
                Assert.Equal(memory.GetProperty("total_bytes").GetInt64().ToString(CultureInfo.InvariantCulture), mine.Single(c => c.Attributes.GetValueOrDefault("data-field") == "total").Attributes["data-bytes"]);
                foreach (JsonProperty category in memory.GetProperty("bytes").EnumerateObject())
                {
                    Assert.Equal(category.Value.GetInt64().ToString(CultureInfo.InvariantCulture), mine.Single(c => c.Attributes.GetValueOrDefault("data-category") == category.Name).Attributes["data-bytes"]);
                }
            }
        }

        var estimateRows = elements.Where(e => e.Tag == "tr" && e.Attributes.ContainsKey("data-estimate-bytes") && e.Attributes.ContainsKey("data-category")).ToList();
        JsonElement estimate = summary.GetProperty("estimate");
        Assert.Equal(
            estimate.GetProperty("categories").EnumerateArray().Select(c => (c.GetProperty("category").GetString(), c.GetProperty("estimate_bytes").GetInt64().ToString(CultureInfo.InvariantCulture), c.GetProperty("measured_bytes").GetInt64().ToString(CultureInfo.InvariantCulture))),
            estimateRows.Select(r => ((string?)r.Attributes["data-category"], r.Attributes["data-estimate-bytes"], r.Attributes["data-measured-bytes"])));
        Assert.Equal(estimate.GetProperty("model_state_only_bytes").GetInt64().ToString(CultureInfo.InvariantCulture), Field("model-state-only")["data-bytes"]);
    }

    [Fact]
    public void The_screenshot_shows_the_chart()
    {
        Chromium.Require();
        // The chart's place on the page, as the browser laid it out (same window size as the screenshot).
        var svg = Elements(Chromium.DumpDom(run.Files.Html)).Single(e => e.Tag == "svg" && e.Attributes.GetValueOrDefault("id") == "chart").Attributes;
        int[] box = svg["data-drawn-box"].Split(' ').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        Assert.True(box[1] + box[3] <= Chromium.WindowHeight, $"the chart ({svg["data-drawn-box"]}) is below the first screen");

        string png = Path.Combine(run.RunDirectory, "screenshot.png");
        Chromium.Screenshot(run.Files.Html, png);
        using SKBitmap shot = SKBitmap.Decode(png);
        Assert.Equal((Chromium.WindowWidth, Chromium.WindowHeight), (shot.Width, shot.Height));

        int inChart = PixelCount.Coloured(shot, new SKRectI(box[0], box[1], box[0] + box[2], box[1] + box[3]));
        // The stacked areas fill a good part of the plot (about a fifth for this 3-step run, more for
        // longer ones); a chart drawn without them has only grey axes and dark text.
        Assert.True(inChart > box[2] * box[3] / 10, $"{inChart} coloured pixels in the chart's {box[2]}x{box[3]}");
    }
}
