using System.Text.Json;
using Gputel.Core.Records;
using Gputel.Profiler.Records;
using SkiaSharp;

namespace Gputel.Profiler.Tests.Reports;

/// <summary>The report of a real run: its files, and summary.json checked against steps.jsonl recomputed here.</summary>
public sealed class RealRunReportTests(RealRunReport run) : IClassFixture<RealRunReport>
{
    private static readonly string[] Categories =
        ["weights", "gradients", "optimizer_state", "activations", "temporary", "inputs", "allocator_cache", "runtime", "unattributed"];

    /// <summary>
    /// steps.jsonl read with nothing of the product's code: (step, phase, bytes per category as the
    /// report shows them at the phase's peak, peak_bytes). The report's rule, as core/README.md (Reports) states it:
    /// temporary is the peak above the figure the peak stands on, so the categories add up to the
    /// peak; a phase that began where the one before it in the step ended (all but forward) and
    /// ended lower than that (backward, freeing activations) stands on its start, so it shows the
    /// categories that phase ended with.
    /// </summary>
    private List<(int Step, string Phase, Dictionary<string, long> Bytes, long Peak)> StepLines()
    {
        var raw = File.ReadAllLines(Path.Combine(run.RunDirectory, "steps.jsonl")).Select(line =>
        {
            using JsonDocument doc = JsonDocument.Parse(line);
            JsonElement root = doc.RootElement;
            var bytes = root.GetProperty("bytes").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64());
            return (Step: root.GetProperty("step").GetInt32(), Phase: root.GetProperty("phase").GetString()!, Bytes: bytes,
                Allocator: root.GetProperty("allocator_bytes").GetInt64(), Peak: root.GetProperty("peak_bytes").GetInt64());
        }).ToList();

        return raw.Select((line, i) =>
        {
            var before = i > 0 ? raw[i - 1] : default;
            bool onStart = i > 0 && before.Step == line.Step && line.Phase != "forward" && before.Allocator > line.Allocator;
            var shown = new Dictionary<string, long>(onStart ? before.Bytes : line.Bytes);
            shown["temporary"] = Math.Max(line.Bytes["temporary"], line.Peak - (onStart ? before.Allocator : line.Allocator));
            return (line.Step, line.Phase, shown, line.Peak);
        }).ToList();
    }

    private JsonElement Summary()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(run.Files.SummaryJson));
        return doc.RootElement.Clone();
    }

    [Fact]
    public void All_four_files_are_written()
    {
        Assert.Equal(["report.html", "report.md", "report.png", "summary.json"],
            new[] { run.Files.Html, run.Files.Markdown, run.Files.Png, run.Files.SummaryJson }.Select(Path.GetFileName));
        foreach (string file in new[] { run.Files.Html, run.Files.Markdown, run.Files.Png, run.Files.SummaryJson })
        {
            Assert.True(new FileInfo(file).Length > 0, file);
        }

        Assert.Empty(Directory.GetFiles(run.RunDirectory, "*.tmp-*"));
        string html = File.ReadAllText(run.Files.Html);
        Assert.DoesNotContain("src=", html, StringComparison.OrdinalIgnoreCase); // self-contained: nothing loaded from elsewhere
        Assert.DoesNotContain("href=", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("**Status: complete.**", File.ReadAllText(run.Files.Markdown), StringComparison.Ordinal);
    }

    [Fact]
    public void Summary_numbers_are_the_records_numbers()
    {
        var lines = StepLines();
        JsonElement summary = Summary();

        Assert.Equal("complete", summary.GetProperty("status").GetString());
        Assert.Equal(3, summary.GetProperty("steps").GetInt32());
        Assert.Equal(2, summary.GetProperty("last_step").GetInt32());
        Assert.Equal(lines.Count, summary.GetProperty("phase_lines").GetInt32());
        Assert.Equal(["forward", "backward", "optimizer_step", "zero_grad"], summary.GetProperty("phases").EnumerateArray().Select(e => e.GetString()));

        // The peak: the highest allocator peak after step 0 (the stacked total breaks ties).
        var later = lines.Where(l => l.Step >= 1).ToList();
        var expected = Highest(later);
        JsonElement peak = summary.GetProperty("peak");
        Assert.Equal(expected.Step, peak.GetProperty("step").GetInt32());
        Assert.Equal(expected.Phase, peak.GetProperty("phase").GetString());
        Assert.Equal(expected.Bytes.Values.Sum(), peak.GetProperty("total_bytes").GetInt64());
        Assert.Equal(expected.Peak, peak.GetProperty("peak_bytes").GetInt64());
        foreach (string category in Categories)
        {
            Assert.Equal(expected.Bytes[category], peak.GetProperty("bytes").GetProperty(category).GetInt64());
        }

        // Top consumers: the positive categories at the peak, largest first.
        Assert.Equal(
            expected.Bytes.Where(kv => kv.Value > 0).OrderByDescending(kv => kv.Value).Select(kv => (kv.Key, kv.Value)),
            summary.GetProperty("top_consumers").EnumerateArray().Select(e => (e.GetProperty("category").GetString()!, e.GetProperty("bytes").GetInt64())));

        // Per phase: step 0 alone, and the highest of steps 1 and 2.
        foreach (JsonElement phase in summary.GetProperty("phase_peaks").EnumerateArray())
        {
            string name = phase.GetProperty("phase").GetString()!;
            Assert.Equal(lines.Single(l => l.Step == 0 && l.Phase == name).Bytes.Values.Sum(), phase.GetProperty("step0").GetProperty("total_bytes").GetInt64());
            Assert.Equal(Highest(later.Where(l => l.Phase == name)).Bytes.Values.Sum(), phase.GetProperty("later_steps").GetProperty("total_bytes").GetInt64());
        }

        // The estimate sits beside the measured peak's own categories.
        JsonElement estimate = summary.GetProperty("estimate");
        Assert.Equal(expected.Bytes.Values.Sum(), estimate.GetProperty("measured_peak_bytes").GetInt64());
        Assert.True(estimate.GetProperty("model_state_only_bytes").GetInt64() > 0);
        foreach (JsonElement c in estimate.GetProperty("categories").EnumerateArray())
        {
            Assert.Equal(expected.Bytes[c.GetProperty("category").GetString()!], c.GetProperty("measured_bytes").GetInt64());
        }

        // A CPU run's runtime (the math libraries' buffers on this machine) is measured, not
        // predicted: the estimate takes the run's own figure and says so.
        JsonElement runtime = estimate.GetProperty("categories").EnumerateArray().Single(c => c.GetProperty("category").GetString() == "runtime");
        Assert.Equal(expected.Bytes["runtime"], runtime.GetProperty("estimate_bytes").GetInt64());
        Assert.StartsWith("as this run measured it", runtime.GetProperty("formula").GetString(), StringComparison.Ordinal);

        Assert.Equal(File.ReadAllLines(Path.Combine(run.RunDirectory, "samples.jsonl")).Length, summary.GetProperty("samples").GetProperty("count").GetInt32());
    }

    private static (int Step, string Phase, Dictionary<string, long> Bytes, long Peak) Highest(IEnumerable<(int Step, string Phase, Dictionary<string, long> Bytes, long Peak)> lines) =>
        lines.OrderByDescending(l => l.Peak).ThenByDescending(l => l.Bytes.Values.Sum()).First();

    [Fact]
    public void The_run_records_host_samples_its_process_and_its_end()
    {
        RunRecordReader record = RunRecordReader.Read(run.RunDirectory);

        // One at the start, one at the end, and one every 200 ms between.
        Assert.True(record.Samples.Count >= 2, $"{record.Samples.Count} samples");
        Assert.All(record.Samples, s =>
        {
            Assert.Equal(-1, s.Gpu);
            Assert.True(s.UsedBytes > 0);
            Assert.True(s.ProcessUsedBytes > s.UsedBytes / 2, "the resident set holds most of what malloc handed out");
        });
        Assert.Equal(Environment.ProcessId, record.Info!.Process!.Pid);
        Assert.True(record.Info.Process.IsAlive());
        Assert.Equal(new RunEnd(record.End!.EndTime, 3, 3, false), record.End);
        Assert.True(long.Parse(record.Info.Settings["allocator_baseline_bytes"], System.Globalization.CultureInfo.InvariantCulture) > 0);
    }

    [Fact]
    public void The_png_is_a_chart_not_a_blank_image()
    {
        using SKBitmap bitmap = SKBitmap.Decode(run.Files.Png);
        Assert.Equal((1200, 600), (bitmap.Width, bitmap.Height));
        // Category colours fill much of the plot: count clearly coloured (not white or grey) pixels.
        // A blank chart has none; this run's bars cover about a tenth of the image (how much of a
        // tiny run's memory is unattributed, drawn grey, moves with what malloc keeps in its heap).
        int coloured = PixelCount.Coloured(bitmap, new SKRectI(0, 0, bitmap.Width, bitmap.Height));
        Assert.True(coloured > bitmap.Width * bitmap.Height / 20, $"{coloured} coloured pixels");
    }
}
