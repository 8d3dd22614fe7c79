using System.Text;
using System.Text.Json;
using Gputel.Core.Records;

namespace Gputel.Core.Reports;

/// <summary>The four files a report writes.</summary>
/// <param name="Html">The self-contained page with the chart and tables.</param>
/// <param name="Markdown">The Markdown summary.</param>
/// <param name="Png">The chart as an image.</param>
/// <param name="SummaryJson">The machine-readable summary.</param>
public sealed record ReportFiles(string Html, string Markdown, string Png, string SummaryJson);

/// <summary>
/// A run record turned into a report: <c>report.html</c>, <c>report.md</c>, <c>report.png</c> and
/// <c>summary.json</c>. Reads files only (no libtorch): it works on any machine, on records of runs
/// that are still going, and on records cut off mid-line, reporting what is readable.
/// </summary>
public sealed class RunReport
{
    private readonly RunRecordReader _record;
    private readonly ChartSeries _chart;

    private RunReport(RunRecordReader record, RunSummary summary, ChartSeries chart)
    {
        _record = record;
        Summary = summary;
        _chart = chart;
    }

    /// <summary>What the report says, as written to <c>summary.json</c>.</summary>
    public RunSummary Summary { get; }

    /// <summary>
    /// Reads the run record in <paramref name="runDirectory"/>. Throws
    /// <see cref="DirectoryNotFoundException"/> when it does not exist and
    /// <see cref="InvalidDataException"/> when it holds no run record; anything less (a cut-off or
    /// damaged line, a missing <c>run.json</c>) becomes a warning in the report.
    /// </summary>
    public static RunReport Read(string runDirectory)
    {
        RunRecordReader record = RunRecordReader.Read(runDirectory);
        return new RunReport(record, RunAnalysis.Summarize(record), ChartSeries.From(record));
    }

    /// <summary>
    /// Reads a PyTorch CUDA memory snapshot (<c>torch.cuda.memory._dump_snapshot</c>) and replays it
    /// (<see cref="Snapshots.SnapshotAnalysis"/>): the same four files, with the exact peak and its
    /// allocation sites. Throws <see cref="FileNotFoundException"/> for no such file and
    /// <see cref="InvalidDataException"/> for a file that is not a readable snapshot.
    /// </summary>
    public static RunReport ReadSnapshot(string path, int? device = null)
    {
        Snapshots.CudaSnapshot snapshot = Snapshots.SnapshotReader.Read(path);
        (RunRecordReader record, RunSummary summary) = Snapshots.SnapshotAnalysis.Summarize(path, snapshot, device);
        return new RunReport(record, summary, ChartSeries.From(record));
    }

    /// <summary>Writes the four files into <paramref name="outputDirectory"/> (created if needed), each replaced whole.</summary>
    public ReportFiles Write(string outputDirectory)
    {
        Directory.CreateDirectory(outputDirectory);
        var files = new ReportFiles(
            Path.Combine(outputDirectory, "report.html"),
            Path.Combine(outputDirectory, "report.md"),
            Path.Combine(outputDirectory, "report.png"),
            Path.Combine(outputDirectory, "summary.json"));
        // The PNG (ScottPlot, SkiaSharp) takes as long as the rest together: draw it alongside.
        Task png = Task.Run(() =>
        {
            string temporary = files.Png + ".tmp-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".png";
            PngChart.Save(temporary, Summary, _chart);
            File.Move(temporary, files.Png, overwrite: true);
        });
        RunRecordWriter.WriteAtomically(files.Html, Encoding.UTF8.GetBytes(HtmlReport.Render(Summary, _chart, _record.Info?.Settings)));
        RunRecordWriter.WriteAtomically(files.Markdown, Encoding.UTF8.GetBytes(MarkdownReport.Render(Summary)));
        png.GetAwaiter().GetResult();
        // Last, so that a summary.json on disk always sits beside the pages it describes.
        RunRecordWriter.WriteAtomically(files.SummaryJson, JsonSerializer.SerializeToUtf8Bytes(Summary, ReportJson.Default.RunSummary));
        return files;
    }
}
