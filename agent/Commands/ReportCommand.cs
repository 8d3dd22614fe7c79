using System.CommandLine;
using System.Globalization;
using Gputel.Core.Reports;
using Spectre.Console;

namespace Gputel.Agent.Commands;

/// <summary><c>gputel report RUN_DIR [--out DIR]</c>: a run record turned into HTML, Markdown, PNG and JSON.</summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var runDirectory = new Argument<string>("RUN_DIR") { Description = "A run record directory (run.json, steps.jsonl, samples.jsonl: gputel finetune), or a PyTorch CUDA memory snapshot file (torch.cuda.memory._dump_snapshot, e.g. from tools/pytorch/gputel_snapshot.py)." };
        var output = new Option<string>("--out") { Description = "Where to write report.html, report.md, report.png and summary.json (default: RUN_DIR for a run record; NAME-report/ beside a snapshot NAME.pickle)." };
        var device = new Option<int?>("--device") { Description = "For a snapshot of several GPUs: the CUDA device to report (default: the one whose peak is highest)." };
        var command = new Command("report", "Report a recorded run or a PyTorch memory snapshot: memory by category over steps and phases, peaks, estimate against measurement, warnings.")
        {
            runDirectory, output, device,
        };

        command.SetAction(parse =>
        {
            string run = parse.GetValue(runDirectory)!;
            bool snapshot = File.Exists(run);
            RunReport report;
            try
            {
                report = snapshot ? RunReport.ReadSnapshot(run, parse.GetValue(device)) : RunReport.Read(run);
            }
            catch (Exception e) when (e is DirectoryNotFoundException or FileNotFoundException or InvalidDataException or UnauthorizedAccessException or IOException)
            {
                // Nothing is written: there is no record to report on.
                Console.Error.WriteLine($"gputel report: {Program.Describe(e)}");
                return Program.UsageError;
            }

            string destination = parse.GetValue(output)
                ?? (snapshot ? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(run))!, Path.GetFileNameWithoutExtension(run) + "-report") : run);
            if (File.Exists(destination))
            {
                Console.Error.WriteLine($"gputel report: --out {destination} is a file; it takes a directory to write the report into");
                return Program.UsageError;
            }

            ReportFiles files;
            try
            {
                files = report.Write(destination);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A path under a file, a directory we may not write to, a full disk.
                Console.Error.WriteLine($"gputel report: cannot write the report into {destination}: {Program.Describe(e)}");
                return Program.UsageError;
            }

            Print(report.Summary, files);
            return 0;
        });
        return command;
    }

    private static void Print(RunSummary summary, ReportFiles files)
    {
        Console.WriteLine($"run {summary.RunId ?? summary.RunDirectory}: {summary.StatusDetail}");
        if (summary.Peak is { } peak)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak {ByteText.Format(peak.TotalBytes)} at step {peak.Step}, {peak.Phase} ({summary.DescribePeakScope()}): {peak.DescribeBasis()}"));
            // Plain Text cells, not markup: no markup parsing (nor Spectre's emoji tables) for text
            // that comes from a file.
            var table = new Table().Border(TableBorder.Rounded)
                .AddColumn(new TableColumn(new Text("category at the peak")))
                .AddColumn(new TableColumn(new Text("MiB")).RightAligned())
                .AddColumn(new TableColumn(new Text("share")).RightAligned());
            if (summary.Estimate is not null)
            {
                table.AddColumn(new TableColumn(new Text("estimate MiB")).RightAligned());
            }

            void Row(params string[] cells) => table.AddRow(cells.Take(table.Columns.Count).Select(c => new Text(c)).ToArray());
            foreach ((string category, long bytes) in peak.Bytes)
            {
                Row(
                    category,
                    ByteText.MiBText(bytes),
                    peak.TotalBytes > 0 ? ((double)bytes / peak.TotalBytes).ToString("0.0%", CultureInfo.InvariantCulture) : "-",
                    summary.Estimate?.Categories.FirstOrDefault(c => c.Category == category) is { } e ? ByteText.MiBText(e.EstimateBytes) : "-");
            }

            Row("total", ByteText.MiBText(peak.TotalBytes), "100%", summary.Estimate is { } estimate ? ByteText.MiBText(estimate.PeakBytes) : "-");
            if (summary.Estimate is { } modelState)
            {
                Row("model state only (common tables)", "", "", ByteText.MiBText(modelState.ModelStateOnlyBytes));
            }

            AnsiConsole.Write(table);
        }

        foreach (string warning in summary.Warnings)
        {
            Console.WriteLine($"warning: {warning}");
        }

        // Plain lines, never wrapped to the terminal's width: scripts read the paths.
        foreach (string path in new[] { files.Html, files.Markdown, files.Png, files.SummaryJson })
        {
            Console.WriteLine($"wrote {Path.GetFullPath(path)}");
        }
    }
}
