using Gputel.Core.Memory;
using Gputel.Core.Records;
using Gputel.Core.Training;
using Gputel.Profiler.Records;

namespace Gputel.Profiler.Tests.Records;

public sealed class RunRecordTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gputel-run-" + Guid.NewGuid().ToString("N"));

    private static RunInfo Info => new("r1", "tiny", "lora", "bf16", ComputeDevice.Cpu, DateTimeOffset.UnixEpoch,
        new Dictionary<string, string> { ["lora_rank"] = "8" }, new Dictionary<string, string> { ["gputel"] = "0.1.0" });

    private static MemorySnapshot Snapshot(int step, string phase) =>
        new(step, Phase.Parse(phase), [1, 2, 3, 4, 5, 6, 0, 8, -9], 20, 30, 0.5);

    [Fact]
    public void Steps_and_run_info_read_back()
    {
        using (var writer = new RunRecordWriter(_dir, Info))
        {
            writer.WriteStep(Snapshot(0, "forward"), loss: 2.5);
            writer.WriteStep(Snapshot(0, "backward"));
            writer.WriteSample(new SampleLine(DateTimeOffset.UnixEpoch, 0, 1000, 500));
        }

        RunRecordReader record = RunRecordReader.Read(_dir);

        Assert.Empty(record.Warnings);
        Assert.Equal("lora", record.Info!.Method);
        Assert.Equal("8", record.Info.Settings["lora_rank"]);
        Assert.Equal([Phase.Forward, Phase.Backward], record.Steps.Select(s => s.Phase));
        Assert.Equal(2.5, record.Steps[0].Loss);
        Assert.Equal(3, record.Steps[0].Bytes["optimizer_state"]);
        Assert.Equal(-9, record.Steps[0].Bytes["unattributed"]);
        Assert.Equal(500, Assert.Single(record.Samples).ProcessUsedBytes);
        Assert.Contains("\"optimizer_state\":3", File.ReadAllText(Path.Combine(_dir, "steps.jsonl")), StringComparison.Ordinal);
    }

    [Fact]
    public void A_diverged_loss_is_recorded_not_refused()
    {
        using (var writer = new RunRecordWriter(_dir, Info))
        {
            writer.WriteStep(Snapshot(0, "zero_grad"), loss: double.NaN);
            writer.WriteStep(Snapshot(1, "zero_grad"), loss: double.PositiveInfinity);
        }

        RunRecordReader record = RunRecordReader.Read(_dir);
        Assert.Empty(record.Warnings);
        Assert.True(double.IsNaN(record.Steps[0].Loss!.Value));
        Assert.Equal(double.PositiveInfinity, record.Steps[1].Loss);
    }

    [Fact]
    public void Every_line_is_on_disk_as_soon_as_it_is_written()
    {
        using var writer = new RunRecordWriter(_dir, Info);
        writer.WriteStep(Snapshot(0, "forward"));

        // Read while the writer is still open, as a crash would leave it.
        Assert.Single(RunRecordReader.Read(_dir).Steps);
    }

    [Fact]
    public void A_run_cut_off_mid_line_reads_up_to_its_last_complete_line_with_a_warning()
    {
        using (var writer = new RunRecordWriter(_dir, Info))
        {
            writer.WriteStep(Snapshot(0, "forward"));
            writer.WriteStep(Snapshot(0, "backward"));
        }

        File.AppendAllText(Path.Combine(_dir, "steps.jsonl"), "{\"time\":\"2026-11-23T00:00:00Z\",\"step\":1,\"pha");

        RunRecordReader record = RunRecordReader.Read(_dir);
        Assert.Equal(2, record.Steps.Count);
        Assert.Contains("last line is incomplete", Assert.Single(record.Warnings), StringComparison.Ordinal);
    }

    [Fact]
    public void A_damaged_line_in_the_middle_is_skipped_and_named()
    {
        using (var writer = new RunRecordWriter(_dir, Info))
        {
            writer.WriteStep(Snapshot(0, "forward"));
        }

        File.AppendAllText(Path.Combine(_dir, "steps.jsonl"), "garbage\n");
        using (var writer = new RunRecordWriter(_dir, Info))
        {
            writer.WriteStep(Snapshot(1, "forward"));
        }

        RunRecordReader record = RunRecordReader.Read(_dir);
        Assert.Equal([0, 1], record.Steps.Select(s => s.Step));
        Assert.Contains("line 2: not valid JSON", Assert.Single(record.Warnings), StringComparison.Ordinal);
    }

    [Fact]
    public void Lines_missing_a_field_or_holding_null_where_none_is_allowed_are_damaged_not_half_read()
    {
        using (var writer = new RunRecordWriter(_dir, Info))
        {
            writer.WriteStep(Snapshot(0, "forward"));
        }

        // Found by fuzzing (fuzz/): these used to come back as steps with a null phase or bytes.
        File.AppendAllText(Path.Combine(_dir, "steps.jsonl"), "{\"step\":1}\n{\"step\":2,\"phase\":null,\"bytes\":{}}\n");
        File.WriteAllText(Path.Combine(_dir, "run.json"), "{\"run_id\":\"r\"}");

        RunRecordReader record = RunRecordReader.Read(_dir);
        Assert.Equal([0], record.Steps.Select(s => s.Step));
        Assert.Null(record.Info);
        Assert.Equal(3, record.Warnings.Count);
    }

    [Fact]
    public void Missing_or_empty_directories_are_clear_errors()
    {
        Assert.Throws<DirectoryNotFoundException>(() => RunRecordReader.Read(_dir));
        Directory.CreateDirectory(_dir);
        Assert.Contains("not a run record", Assert.Throws<InvalidDataException>(() => RunRecordReader.Read(_dir)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_json_is_replaced_whole()
    {
        string path = Path.Combine(_dir, "x.json");
        Directory.CreateDirectory(_dir);
        RunRecordWriter.WriteAtomically(path, "{\"a\":1}"u8);
        RunRecordWriter.WriteAtomically(path, "{\"a\":2}"u8);

        Assert.Equal("{\"a\":2}", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(_dir));
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
