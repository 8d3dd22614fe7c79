using System.Text.Json;
using Gputel.Core.Memory;
using Gputel.Core.Records;
using Gputel.Core.Reports;
using Gputel.Core.Training;
using Gputel.Profiler.Records;

namespace Gputel.Profiler.Tests.Reports;

/// <summary>Reports of records that are cut off, damaged, incomplete or still being written: what is readable, with warnings.</summary>
public sealed class DamagedRecordReportTests : IDisposable
{
    private const long MiB = 1024 * 1024;
    private static readonly IReadOnlyList<Phase> Phases = Phase.All;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gputel-damaged-" + Guid.NewGuid().ToString("N"));

    /// <summary>A process that does not run: pid 1 started at the epoch on this host.</summary>
    private static readonly RunProcess Gone = new(1, Environment.MachineName, DateTimeOffset.UnixEpoch);

    private static RunInfo Info(RunProcess? process, string device = "cpu") => new("damaged", "tiny", "lora", "fp32", ComputeDevice.Parse(device), DateTimeOffset.UnixEpoch,
        new Dictionary<string, string> { ["batch_size"] = "2", ["cutoff_length"] = "32" }, new Dictionary<string, string>(), process);

    private static MemorySnapshot Snapshot(int step, int phase, long weights = 10 * MiB, long optimizer = 2 * MiB, long cache = 0, long unattributed = 0)
    {
        long[] bytes = new long[MemoryCategories.All.Count];
        bytes[(int)MemoryCategory.Weights] = weights;
        bytes[(int)MemoryCategory.OptimizerState] = optimizer;
        bytes[(int)MemoryCategory.Activations] = phase == 0 ? (5 + step) * MiB : 0;
        bytes[(int)MemoryCategory.Temporary] = phase == 1 ? 3 * MiB : 0;
        bytes[(int)MemoryCategory.AllocatorCache] = cache;
        bytes[(int)MemoryCategory.Unattributed] = unattributed;
        return new MemorySnapshot(step, Phases[phase], bytes, bytes.Sum() - bytes[(int)MemoryCategory.Temporary], bytes.Sum(), 0.1);
    }

    /// <summary>Writes <paramref name="steps"/> whole steps, a second apart per phase.</summary>
    private void Write(int steps, RunProcess? process, Func<int, int, MemorySnapshot>? snapshot = null, bool complete = false, string device = "cpu")
    {
        using var writer = new RunRecordWriter(_dir, Info(process, device));
        for (int step = 0; step < steps; step++)
        {
            for (int phase = 0; phase < 4; phase++)
            {
                writer.WriteStep((snapshot ?? ((s, p) => Snapshot(s, p)))(step, phase), time: DateTimeOffset.UnixEpoch.AddSeconds((step * 4) + phase + 1));
            }
        }

        if (complete)
        {
            writer.Complete(new RunEnd(DateTimeOffset.UnixEpoch, steps, steps, false));
        }
    }

    private RunSummary Report()
    {
        RunReport report = RunReport.Read(_dir);
        ReportFiles files = report.Write(_dir);
        Assert.All(new[] { files.Html, files.Markdown, files.Png, files.SummaryJson }, f => Assert.True(File.Exists(f), f));
        // summary.json says what the report object says.
        using JsonDocument json = JsonDocument.Parse(File.ReadAllBytes(files.SummaryJson));
        Assert.Equal(report.Summary.Warnings, json.RootElement.GetProperty("warnings").EnumerateArray().Select(w => w.GetString()));
        return report.Summary;
    }

    [Fact]
    public void A_steps_file_cut_mid_line_reports_what_is_complete_and_says_so()
    {
        Write(3, Gone);
        File.AppendAllText(Path.Combine(_dir, "steps.jsonl"), "{\"time\":\"1970-01-01T00:00:13Z\",\"step\":3,\"pha");

        RunSummary summary = Report();

        Assert.Equal(12, summary.PhaseLines);
        Assert.Equal(RunStatus.CutOff, summary.Status);
        Assert.Contains(summary.Warnings, w => w.StartsWith("steps.jsonl: the last line is incomplete", StringComparison.Ordinal));
        Assert.Contains(summary.Warnings, w => w.StartsWith("run cut off after step 2", StringComparison.Ordinal));
        Assert.Contains("run cut off after step 2", File.ReadAllText(Path.Combine(_dir, "report.md")), StringComparison.Ordinal);
        Assert.Contains("the last line is incomplete", File.ReadAllText(Path.Combine(_dir, "report.html")), StringComparison.Ordinal);
    }

    [Fact]
    public void A_corrupt_middle_line_is_skipped_and_named()
    {
        Write(2, Gone, complete: true);
        string path = Path.Combine(_dir, "steps.jsonl");
        var lines = File.ReadAllLines(path).ToList();
        lines[5] = "{\"time\": garbage";
        File.WriteAllLines(path, lines);

        RunSummary summary = Report();

        Assert.Equal(7, summary.PhaseLines);
        Assert.Equal(RunStatus.Complete, summary.Status);
        Assert.Equal("steps.jsonl, line 6: not valid JSON, skipped", Assert.Single(summary.Warnings));
    }

    [Fact]
    public void A_line_whose_duration_no_phase_can_last_is_skipped_and_named()
    {
        Write(2, Gone, complete: true);
        string path = Path.Combine(_dir, "steps.jsonl");
        var lines = File.ReadAllLines(path).ToList();
        lines[5] = System.Text.RegularExpressions.Regex.Replace(lines[5], "\"seconds\":[^,]+", "\"seconds\":1e300");
        File.WriteAllLines(path, lines);
        // A sample inside that phase, so the chart places it by the phase's duration.
        File.WriteAllText(Path.Combine(_dir, "samples.jsonl"), "{\"time\":\"1970-01-01T00:00:05.5Z\",\"gpu\":-1,\"used_bytes\":1048576,\"process_used_bytes\":null}\n");

        RunSummary summary = Report();

        Assert.Equal(7, summary.PhaseLines);
        Assert.Equal("steps.jsonl, line 6: seconds 1E+300 is longer than any phase can last, skipped", Assert.Single(summary.Warnings));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("")]
    public void A_lora_alpha_that_is_not_a_number_leaves_the_run_reported_without_an_estimate(string alpha)
    {
        Write(2, Gone, complete: true);
        string runJson = Path.Combine(_dir, "run.json");
        File.WriteAllText(runJson, File.ReadAllText(runJson).Replace("\"settings\":{", $"\"settings\":{{\"lora_alpha\":\"{alpha}\",", StringComparison.Ordinal));

        RunSummary summary = Report();

        Assert.Null(summary.Estimate);
        Assert.NotNull(summary.Peak);
        Assert.Equal($"no estimate: run.json's lora_alpha '{alpha}' is not a number", Assert.Single(summary.Warnings));
    }

    [Fact]
    public void Without_run_json_the_steps_are_still_reported_but_not_estimated()
    {
        Write(2, Gone);
        File.Delete(Path.Combine(_dir, "run.json"));

        RunSummary summary = Report();

        Assert.Equal(8, summary.PhaseLines);
        Assert.Null(summary.RunId);
        Assert.Null(summary.Estimate);
        Assert.Equal(RunStatus.CutOff, summary.Status);
        Assert.Contains(summary.Warnings, w => w.StartsWith("run.json: missing", StringComparison.Ordinal));
        Assert.Contains(summary.Warnings, w => w.StartsWith("no estimate", StringComparison.Ordinal));
        Assert.Equal(1, summary.Peak!.Step);
    }

    [Fact]
    public void A_run_whose_writer_still_runs_is_in_progress()
    {
        Write(2, RunProcess.Current());

        RunSummary summary = Report();

        Assert.Equal(RunStatus.InProgress, summary.Status);
        Assert.DoesNotContain(summary.Warnings, w => w.Contains("cut off", StringComparison.Ordinal));
    }

    [Fact]
    public void A_stopped_run_is_cut_off_and_a_finished_one_complete()
    {
        Write(2, Gone);
        using (var writer = new RunRecordWriter(Path.Combine(_dir, "stopped"), Info(Gone)))
        {
            writer.WriteStep(Snapshot(0, 0));
            writer.Complete(new RunEnd(DateTimeOffset.UnixEpoch, 1, 10, Cancelled: true));
        }

        Assert.Equal(RunStatus.CutOff, RunAnalysis.Summarize(RunRecordReader.Read(_dir)).Status);
        RunSummary stopped = RunAnalysis.Summarize(RunRecordReader.Read(Path.Combine(_dir, "stopped")));
        Assert.Equal(RunStatus.CutOff, stopped.Status);
        Assert.Contains("1 of 10 planned steps", stopped.StatusDetail, StringComparison.Ordinal);

        // A new run in the same directory does not inherit the earlier run's end marker.
        Write(1, Gone, complete: true);
        Assert.Equal(RunStatus.Complete, RunAnalysis.Summarize(RunRecordReader.Read(_dir)).Status);
        using (new RunRecordWriter(_dir, Info(Gone)))
        {
        }

        Assert.Null(RunRecordReader.Read(_dir).End);
    }

    [Fact]
    public void Suspicious_peaks_are_warned_about()
    {
        Write(2, Gone, (s, p) => Snapshot(s, p, weights: 4 * MiB, optimizer: 8 * MiB, cache: 6 * MiB, unattributed: -3 * MiB), complete: true, device: "cuda:0");

        RunSummary summary = Report();

        Assert.Equal(
        [
            "optimizer state on the GPU larger than weights at the peak (step 1, forward): 8.0 MiB against 4.0 MiB (an 8-bit optimizer, ZeRO sharding or offloading the state would shrink it)",
            "allocator cache above 20% of peak at the peak (step 1, forward): 6.0 MiB of 21.0 MiB",
            "unattributed above 5% of peak at the peak (step 1, forward): -3.0 MiB of 21.0 MiB",
        ], summary.Warnings);
    }

    [Fact]
    public void Optimizer_state_in_host_memory_is_not_warned_about()
    {
        // On the CPU the state is in host memory, where AdamW's two moments per parameter are no
        // cause for alarm: every full AdamW run would warn.
        Write(2, Gone, (s, p) => Snapshot(s, p, weights: 4 * MiB, optimizer: 8 * MiB), complete: true);

        Assert.DoesNotContain(Report().Warnings, w => w.StartsWith("optimizer state", StringComparison.Ordinal));
    }

    [Fact]
    public void A_record_without_steps_still_reports()
    {
        Write(0, Gone);

        RunSummary summary = Report();

        Assert.Null(summary.Peak);
        Assert.Contains(summary.Warnings, w => w.StartsWith("no complete step line", StringComparison.Ordinal));
        Assert.Contains(summary.Warnings, w => w.StartsWith("run cut off before its first step was recorded", StringComparison.Ordinal));
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
