using System.CommandLine;
using System.Globalization;
using Gputel.Profiler.Reports;
using Spectre.Console;

namespace Gputel.Agent.Commands;

/// <summary><c>gputel report RUN_DIR [--out DIR]</c>: a run record turned into HTML, Markdown, PNG and JSON.</summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var runDirectory = new Argument<string>("RUN_DIR") { Description = "The run record directory (run.json, steps.jsonl, samples.jsonl)." };
        var output = new Option<string>("--out") { Description = "Where to write report.html, report.md, report.png and summary.json (default: RUN_DIR)." };
        var command = new Command("report", "Report a recorded run: memory by category over steps and phases, peaks, estimate against measurement, warnings.")
        {
            runDirectory, output,
        };

        command.SetAction(parse =>
        {
            string run = parse.GetValue(runDirectory)!;
            RunReport report;
            try
            {
                report = RunReport.Read(run);
            }
            catch (Exception e) when (e is DirectoryNotFoundException or InvalidDataException or UnauthorizedAccessException)
            {
                // Nothing is written: there is no record to report on.
                Console.Error.WriteLine($"gputel report: {e.Message}");
                return Program.UsageError;
            }

            ReportFiles files = report.Write(parse.GetValue(output) ?? run);
            Print(report.Summary, files);
            return 0;
        });
        return command;
    }

    private static void Print(RunSummary summary, ReportFiles files)
    {
        string status = summary.Status switch
        {
            RunStatus.Complete => "[green]complete[/]",
            RunStatus.InProgress => "[blue]in progress[/]",
            _ => "[red]cut off[/]",
        };
        AnsiConsole.MarkupLine($"run [bold]{Markup.Escape(summary.RunId ?? summary.RunDirectory)}[/]: {status}. {Markup.Escape(summary.StatusDetail)}");
        if (summary.Peak is { } peak)
        {
            AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"peak [bold]{ByteText.Format(peak.TotalBytes)}[/] at step {peak.Step}, {Markup.Escape(peak.Phase)}"));
            var table = new Table().Border(TableBorder.Rounded).AddColumn("category at the peak")
                .AddColumn(new TableColumn("MiB").RightAligned()).AddColumn(new TableColumn("share").RightAligned());
            if (summary.Estimate is not null)
            {
                table.AddColumn(new TableColumn("estimate MiB").RightAligned());
            }

            foreach ((string category, long bytes) in peak.Bytes)
            {
                string[] row = [category, ByteText.MiBText(bytes), peak.TotalBytes > 0 ? ((double)bytes / peak.TotalBytes).ToString("0.0%", CultureInfo.InvariantCulture) : "-"];
                if (summary.Estimate is { } estimate)
                {
                    row = [.. row, estimate.Categories.FirstOrDefault(c => c.Category == category) is { } e ? ByteText.MiBText(e.EstimateBytes) : "-"];
                }

                table.AddRow(row.Select(Markup.Escape).ToArray());
            }

            string[] total = ["[bold]total[/]", $"[bold]{ByteText.MiBText(peak.TotalBytes)}[/]", "100%"];
            table.AddRow(summary.Estimate is { } est ? [.. total, ByteText.MiBText(est.PeakBytes)] : total);
            if (summary.Estimate is { } modelState)
            {
                table.AddRow("model state only (common tables)", "", "", ByteText.MiBText(modelState.ModelStateOnlyBytes));
            }

            AnsiConsole.Write(table);
        }

        foreach (string warning in summary.Warnings)
        {
            AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(warning)}");
        }

        foreach (string path in new[] { files.Html, files.Markdown, files.Png, files.SummaryJson })
        {
            AnsiConsole.MarkupLine($"wrote [bold]{Markup.Escape(Path.GetFullPath(path))}[/]");
        }
    }
}
