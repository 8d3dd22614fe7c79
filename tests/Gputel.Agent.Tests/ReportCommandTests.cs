using System.Text.Json;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary><c>gputel report</c> as users run it: exit codes, messages, what it writes and where.</summary>
public sealed class ReportCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    /// <summary>A small record written by hand: two steps of two phases, a sample, and the end marker.</summary>
    private string Record()
    {
        string run = Path.Combine(_dir.Path, "run");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, "run.json"),
            """{"run_id":"cli","model":"tiny","method":"lora","dtype":"fp32","device":"cpu","start_time":"2026-01-01T00:00:00Z","settings":{},"versions":{}}""");
        string Line(int step, string phase, long activations, int second) =>
            $$"""{"time":"2026-01-01T00:00:0{{second}}Z","step":{{step}},"phase":"{{phase}}","seconds":0.5,"bytes":{"weights":1048576,"gradients":0,"optimizer_state":0,"activations":{{activations}},"temporary":0,"inputs":0,"allocator_cache":0,"runtime":0,"unattributed":0},"allocator_bytes":1,"peak_bytes":1,"loss":null}""";
        File.WriteAllLines(Path.Combine(run, "steps.jsonl"), [Line(0, "forward", 4096, 1), Line(0, "backward", 0, 2), Line(1, "forward", 8192, 3), Line(1, "backward", 0, 4)]);
        File.WriteAllText(Path.Combine(run, "samples.jsonl"), """{"time":"2026-01-01T00:00:02.75Z","gpu":-1,"used_bytes":2000000,"process_used_bytes":9000000}""" + "\n");
        File.WriteAllText(Path.Combine(run, "end.json"), """{"end_time":"2026-01-01T00:00:05Z","steps_completed":2,"steps_planned":2,"cancelled":false}""");
        return run;
    }

    [Fact]
    public void A_record_is_reported_into_the_run_directory_with_the_paths_printed()
    {
        string run = Record();

        (int exit, string output) = AgentProcess.Run(["report", run]);

        Assert.Equal(0, exit);
        foreach (string file in new[] { "report.html", "report.md", "report.png", "summary.json" })
        {
            Assert.True(File.Exists(Path.Combine(run, file)), file);
            Assert.Contains(Path.Combine(run, file), output, StringComparison.Ordinal);
        }

        Assert.Contains("complete", output, StringComparison.Ordinal);
        Assert.Contains("activations", output, StringComparison.Ordinal); // the per-category table at the peak
        using JsonDocument summary = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(run, "summary.json")));
        Assert.Equal(1, summary.RootElement.GetProperty("peak").GetProperty("step").GetInt32());
        Assert.Equal(1048576 + 8192, summary.RootElement.GetProperty("peak").GetProperty("total_bytes").GetInt64());
    }

    [Fact]
    public void Out_puts_the_report_elsewhere_and_leaves_the_record_alone()
    {
        string run = Record(), output = Path.Combine(_dir.Path, "elsewhere", "report");
        string[] before = Directory.GetFiles(run);

        (int exit, _) = AgentProcess.Run(["report", run, "--out", output]);

        Assert.Equal(0, exit);
        Assert.Equal(before, Directory.GetFiles(run));
        Assert.Equal(["report.html", "report.md", "report.png", "summary.json"], Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Out_naming_a_file_exits_2_and_leaves_the_file_alone()
    {
        string run = Record(), file = Path.Combine(_dir.Path, "report.txt");
        File.WriteAllText(file, "mine");

        (int exit, string text) = AgentProcess.Run(["report", run, "--out", file]);

        Assert.Equal(2, exit);
        Assert.Contains($"gputel report: --out {file} is a file; it takes a directory to write the report into", text, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
        Assert.Equal("mine", File.ReadAllText(file));
    }

    [Fact]
    public void A_missing_directory_exits_2_and_writes_nothing()
    {
        string missing = Path.Combine(_dir.Path, "no-such-run"), output = Path.Combine(_dir.Path, "out");

        (int exit, string text) = AgentProcess.Run(["report", missing, "--out", output]);

        Assert.Equal(2, exit);
        Assert.Contains($"gputel report: no such run directory: {missing}", text, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void A_directory_without_a_record_exits_2_and_writes_nothing()
    {
        string empty = Path.Combine(_dir.Path, "empty");
        Directory.CreateDirectory(empty);
        File.WriteAllText(Path.Combine(empty, "notes.txt"), "not a run");

        (int exit, string text) = AgentProcess.Run(["report", empty]);

        Assert.Equal(2, exit);
        Assert.Contains("is not a run record: it has neither run.json nor steps.jsonl", text, StringComparison.Ordinal);
        Assert.Equal(["notes.txt"], Directory.GetFiles(empty).Select(Path.GetFileName));
    }

    [Fact]
    public void A_record_cut_mid_line_is_reported_with_a_warning()
    {
        string run = Record();
        File.Delete(Path.Combine(run, "end.json"));
        File.AppendAllText(Path.Combine(run, "steps.jsonl"), """{"time":"2026-01-01T00:00:05Z","step":2,"ph""");

        (int exit, string output) = AgentProcess.Run(["report", run]);

        Assert.Equal(0, exit);
        Assert.Contains("steps.jsonl: the last line is incomplete", output, StringComparison.Ordinal);
        Assert.Contains("run cut off after step 1", output, StringComparison.Ordinal);
    }

    public void Dispose() => _dir.Dispose();
}
