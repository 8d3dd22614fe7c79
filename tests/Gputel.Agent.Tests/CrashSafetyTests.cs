using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gputel.Core.Records;
using Gputel.Core.Training;
using Gputel.Profiler.Records;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary>
/// A fine-tuning run killed with SIGKILL at a random moment leaves a run record that reads back
/// whole up to its last complete line.
/// </summary>
public sealed class CrashSafetyTests : IDisposable
{
    private static readonly string[] Phases = ["forward", "backward", "optimizer_step", "zero_grad"];
    private readonly TempDirectory _dir = new();

    [Fact]
    public void A_run_killed_mid_training_reads_back_every_completed_line()
    {
        string run = Path.Combine(_dir.Path, "killed");
        int delayMs = Random.Shared.Next(0, 3000);
        string context = $"killed {delayMs} ms after the first step line";

        // Far more steps than can finish before the kill (a tiny step takes milliseconds), so the kill
        // always lands mid-run.
        using (AgentProcess finetune = AgentProcess.Start(["finetune", "--model", "tiny", "--steps", "100000", "--out", run]))
        {
            finetune.WaitForLine(@"step\s+1/100000", seconds: 120);
            Thread.Sleep(delayMs);
            finetune.KillHard();
            int printed = Regex.Matches(finetune.Output, @"step\s+(\d+)/100000").Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).Max();
            ReadBack(run, printed, context);
        }

        // And the report takes it: a cut-off run, with the steps it completed.
        (int exit, string output) = AgentProcess.Run(["report", run], seconds: 120);
        Assert.True(exit == 0, $"{context}\n{output}");
        Assert.Contains("cut off", output, StringComparison.Ordinal);
        using JsonDocument summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "summary.json")));
        Assert.Equal("cut_off", summary.RootElement.GetProperty("status").GetString());
        Assert.True(File.Exists(Path.Combine(run, "report.html")), context);
    }

    /// <summary>
    /// Checks a run record left by a killed run: every line of steps.jsonl that ended in a newline is
    /// read back, complete steps have every phase, the steps reported on the console are all there,
    /// and run.json is whole with no temporary file beside it.
    /// </summary>
    private static void ReadBack(string run, int stepsPrinted, string context)
    {
        byte[] raw = File.ReadAllBytes(Path.Combine(run, "steps.jsonl"));
        string text = Encoding.UTF8.GetString(raw);
        int end = text.LastIndexOf('\n');
        string[] complete = end < 0 ? [] : text[..end].Split('\n');

        RunRecordReader record = RunRecordReader.Read(run);

        Assert.True(complete.Length == record.Steps.Count, $"{context}: {complete.Length} complete lines on disk, {record.Steps.Count} read back");
        for (int i = 0; i < complete.Length; i++)
        {
            using JsonDocument line = JsonDocument.Parse(complete[i]);
            Assert.Equal(line.RootElement.GetProperty("step").GetInt32(), record.Steps[i].Step);
            Assert.Equal(line.RootElement.GetProperty("phase").GetString(), record.Steps[i].Phase.Name);
            Assert.Equal(line.RootElement.GetProperty("allocator_bytes").GetInt64(), record.Steps[i].AllocatorBytes);
        }

        // Lines come step by step, phase by phase; only the last step may be cut short.
        int lastStep = record.Steps.Count == 0 ? -1 : record.Steps[^1].Step;
        for (int step = 0; step <= lastStep; step++)
        {
            string[] phases = record.Steps.Where(s => s.Step == step).Select(s => s.Phase.Name).ToArray();
            if (step < lastStep || phases.Contains("zero_grad"))
            {
                Assert.True(Phases.SequenceEqual(phases), $"{context}: step {step} has phases [{string.Join(", ", phases)}]");
            }
            else
            {
                Assert.True(Phases.Take(phases.Length).SequenceEqual(phases), $"{context}: last step {step} has phases [{string.Join(", ", phases)}]");
            }
        }

        // A step is printed after its lines are written, so every printed step is in the record.
        int completeSteps = record.Steps.Count(s => s.Phase == Phase.ZeroGrad);
        Assert.True(completeSteps >= stepsPrinted, $"{context}: {stepsPrinted} steps printed, {completeSteps} complete in the record");
        Assert.All(record.Steps.Where(s => s.Phase == Phase.ZeroGrad), s => Assert.NotNull(s.Loss));

        Assert.DoesNotContain(record.Warnings, w => w.Contains("run.json", StringComparison.Ordinal));
        Assert.NotNull(record.Info);
        Assert.Equal("tiny", record.Info.Model);
        Assert.Equal("lora", record.Info.Method);
        Assert.Equal("100000", record.Info.Settings["steps"]);
        Assert.Empty(Directory.GetFiles(run, "*.tmp*"));
    }

    public void Dispose() => _dir.Dispose();
}
