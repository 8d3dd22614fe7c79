using Gputel.Core.Memory;
using Gputel.Core.Reports;
using Gputel.Core.Snapshots;
using Gputel.Core.Training;

namespace Gputel.Core.Tests.Snapshots;

/// <summary>The replay of hand-made snapshots whose every allocation, and so whose peak and categories, the test knows.</summary>
public sealed class SnapshotReplayTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gputel-snapshot-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// One step. In use over time (bytes): 200 before recording; forward +100 (A, freed in backward),
    /// +30 -30 (a temporary), +50 (B, never freed); backward +20 (a gradient, kept), -100 (A), +10 -10;
    /// optimizer +40 (state, kept), +60 -60. So 200, 300, 330, 300, 350, 370, 270, 280, 270, 310, 370, 310:
    /// the peak is 370, first reached when the gradient is made.
    /// </summary>
    private static SnapshotBuilder OneStep() => new SnapshotBuilder()
        .LiveAtEnd(0x1000, 200)
        .Segment(1000)
        .Alloc(0x2000, 100, SnapshotBuilder.Forward)
        .Alloc(0x3000, 30, SnapshotBuilder.Forward).Free(0x3000, 30, SnapshotBuilder.Forward)
        .Alloc(0x4000, 50, SnapshotBuilder.Forward)
        .Alloc(0x5000, 20, SnapshotBuilder.Gradient)
        .Free(0x2000, 100, SnapshotBuilder.Backward)
        .Alloc(0x6000, 10, SnapshotBuilder.Backward).Free(0x6000, 10, SnapshotBuilder.Backward)
        .Alloc(0x7000, 40, SnapshotBuilder.Optimizer)
        .Alloc(0x8000, 60, SnapshotBuilder.Optimizer).Free(0x8000, 60, SnapshotBuilder.Optimizer)
        .LiveAtEnd(0x4000, 50).LiveAtEnd(0x5000, 20).LiveAtEnd(0x7000, 40);

    private static SnapshotReplay Replay(SnapshotBuilder builder, long reservedBefore = 256)
    {
        CudaSnapshot snapshot = SnapshotReader.FromPickle(builder.Build(reservedBefore), "test.pickle");
        return SnapshotReplay.Run(snapshot, snapshot.Devices.Single());
    }

    [Fact]
    public void The_peak_is_the_replayed_one_with_the_categories_of_the_blocks_in_use_then()
    {
        SnapshotReplay replay = Replay(OneStep());

        Assert.Equal(370, replay.PeakAllocatedBytes);
        Assert.Equal(200, replay.AllocatedAtStart);
        Assert.Equal(1256, replay.PeakReservedBytes);
        long[] b = replay.PeakBytes;
        Assert.Equal(200, b[(int)MemoryCategory.BeforeRecording]);
        Assert.Equal(100, b[(int)MemoryCategory.Activations]);
        Assert.Equal(20, b[(int)MemoryCategory.Gradients]);
        // Made in forward, alive to the end and never consumed by backward: nothing says what it is.
        Assert.Equal(50, b[(int)MemoryCategory.Unattributed]);
        Assert.Equal(1256 - 370, b[(int)MemoryCategory.AllocatorCache]);
        Assert.Equal(0, b[(int)MemoryCategory.Temporary]);
        Assert.Equal(1256, b.Sum());
    }

    [Fact]
    public void Phases_come_from_frames_with_their_ends_and_peaks()
    {
        SnapshotReplay replay = Replay(OneStep());

        Assert.Equal([Phase.Forward, Phase.Backward, Phase.OptimizerStep], replay.Phases.Select(p => p.Phase));
        Assert.All(replay.Phases, p => Assert.Equal(0, p.Step));
        Assert.Equal([350L, 270L, 310L], replay.Phases.Select(p => p.AllocatedBytes));
        Assert.Equal([350L, 370L, 370L], replay.Phases.Select(p => p.PeakBytes));
        Assert.Equal(1, replay.PeakPhase);
        ReplayedPhase optimizer = replay.Phases[2];
        Assert.Equal(40, optimizer.Bytes[(int)MemoryCategory.OptimizerState]);
        Assert.Equal(20, optimizer.Bytes[(int)MemoryCategory.Gradients]);
        Assert.Equal(0, optimizer.Bytes[(int)MemoryCategory.Activations]);
    }

    [Fact]
    public void Temporaries_are_what_a_phase_frees_itself()
    {
        // The peak moved into forward's temporary: a 500-byte buffer made and freed inside forward.
        SnapshotReplay replay = Replay(new SnapshotBuilder()
            .Segment(4096)
            .Alloc(0x2000, 100, SnapshotBuilder.Forward)
            .Alloc(0x3000, 500, SnapshotBuilder.Forward).Free(0x3000, 500, SnapshotBuilder.Forward)
            .Free(0x2000, 100, SnapshotBuilder.Backward), reservedBefore: 0);

        Assert.Equal(600, replay.PeakAllocatedBytes);
        Assert.Equal(500, replay.PeakBytes[(int)MemoryCategory.Temporary]);
        Assert.Equal(100, replay.PeakBytes[(int)MemoryCategory.Activations]);
        Assert.Equal("/app/model.py:40 (forward)", replay.Sites[0].Site);
        Assert.Equal("temporary", replay.Sites[0].Category);
    }

    [Fact]
    public void A_block_freed_in_the_trace_but_allocated_before_it_counts_from_the_start()
    {
        SnapshotReplay replay = Replay(new SnapshotBuilder()
            .Segment(2048)
            .Free(0x9000, 300, SnapshotBuilder.Plain)
            .Alloc(0x2000, 100, SnapshotBuilder.Loading)
            .LiveAtEnd(0x2000, 100), reservedBefore: 0);

        Assert.Equal(300, replay.AllocatedAtStart);
        Assert.Equal(300, replay.PeakAllocatedBytes);
        Assert.Equal(300, replay.PeakBytes[(int)MemoryCategory.BeforeRecording]);
        Assert.Equal(100, replay.Phases[^1].Bytes[(int)MemoryCategory.Weights]);
    }

    [Fact]
    public void Steps_start_at_each_forward_after_another_phase()
    {
        var builder = new SnapshotBuilder().Segment(1 << 20);
        for (int step = 0; step < 3; step++)
        {
            long a = 0x10000 * (step + 1);
            builder.Alloc(a, 100, SnapshotBuilder.Forward).Free(a, 100, SnapshotBuilder.Backward).Alloc(a + 8, 8, SnapshotBuilder.Optimizer).Free(a + 8, 8, SnapshotBuilder.Optimizer);
        }

        SnapshotReplay replay = Replay(builder, reservedBefore: 0);

        Assert.Equal([0, 0, 0, 1, 1, 1, 2, 2, 2], replay.Phases.Select(p => p.Step));
    }

    [Fact]
    public void Optimizer_annotations_set_the_phase_whatever_the_frames()
    {
        SnapshotReplay replay = Replay(new SnapshotBuilder()
            .Segment(4096)
            .Alloc(0x2000, 100, SnapshotBuilder.Forward)
            .Free(0x2000, 100, SnapshotBuilder.Backward)
            .Annotate("Optimizer.step#SGD.step", start: true)
            .Alloc(0x3000, 64, SnapshotBuilder.Plain)
            .Annotate("Optimizer.step#SGD.step", start: false)
            .LiveAtEnd(0x3000, 64), reservedBefore: 0);

        Assert.Equal(Phase.OptimizerStep, replay.Phases[^1].Phase);
        Assert.Equal(64, replay.Phases[^1].Bytes[(int)MemoryCategory.OptimizerState]);
    }

    [Fact]
    public void An_out_of_memory_entry_fails_the_report_and_says_what_was_asked()
    {
        string path = new SnapshotBuilder()
            .Segment(4096)
            .Alloc(0x2000, 100, SnapshotBuilder.Forward)
            .Oom(1L << 30, SnapshotBuilder.Forward)
            .Write(_dir);

        RunSummary summary = RunReport.ReadSnapshot(path).Summary;

        Assert.Equal(RunStatus.Failed, summary.Status);
        OutOfMemory oom = Assert.Single(summary.OutOfMemory);
        Assert.Equal(1L << 30, oom.RequestedBytes);
        Assert.Equal(100, oom.AllocatedBytes);
        Assert.Contains(summary.Warnings, w => w.StartsWith("out of memory at step 0, forward: 1.00 GiB asked for", StringComparison.Ordinal));
    }

    [Fact]
    public void The_summary_has_the_run_records_schema_and_adds_up()
    {
        string path = OneStep().Write(_dir);
        RunReport report = RunReport.ReadSnapshot(path);
        RunSummary s = report.Summary;

        Assert.Equal(SnapshotAnalysis.Source, s.Source);
        Assert.Equal("cuda:0", s.Device);
        PhaseMemory peak = s.Peak!;
        Assert.True(peak.AtPeakItself);
        Assert.Equal(370, peak.AllocatorBytes);
        Assert.Equal(peak.Bytes.Values.Sum(), peak.TotalBytes);
        Assert.Equal(Phase.Backward, peak.Phase);
        Assert.Equal(s.TopConsumers.Select(c => c.Category), peak.Bytes.Where(kv => kv.Value > 0).OrderByDescending(kv => kv.Value).Select(kv => kv.Key));
        Assert.Equal(3, s.PhasePeaks.Count);
        Assert.Contains(s.Warnings, w => w.Contains("in use before recording began", StringComparison.Ordinal));

        ReportFiles files = report.Write(Path.Combine(_dir, "out"));
        string json = File.ReadAllText(files.SummaryJson);
        Assert.Contains("\"allocator_bytes\": 370", json, StringComparison.Ordinal);
        Assert.Contains("\"allocation_sites\"", json, StringComparison.Ordinal);
        Assert.Contains("Allocation sites at the peak", File.ReadAllText(files.Html), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("80025d7100284b014b02652e", "not a PyTorch memory snapshot")] // [1, 2]
    [InlineData("80027d71002858080000007365676d656e747371015801000000787102580d0000006465766963655f74726163657371035d7104752e", "segments is a str, not a list")]
    [InlineData("80049552000000000000007d94288c087365676d656e7473945d947d94288c06646576696365944b008c0a746f74616c5f73697a65948c03626967948c06626c6f636b73945d9475618c0d6465766963655f747261636573945d94752e", "no whole number 'total_size'")]
    [InlineData("800495", "not a readable pickle")]
    [InlineData("7b7d", "not a readable pickle")] // "{}" as text
    public void Files_that_are_not_snapshots_are_refused_in_one_line(string hex, string expected)
    {
        string path = Path.Combine(_dir, "bad.pickle");
        File.WriteAllBytes(path, Convert.FromHexString(hex));

        InvalidDataException e = Assert.Throws<InvalidDataException>(() => SnapshotReader.Read(path));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }
}
