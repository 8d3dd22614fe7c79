using Gputel.Core.Memory;
using Gputel.Core.Training;
using Gputel.Profiler.Memory;

namespace Gputel.Profiler.Tests.Memory;

public sealed class MemorySnapshotLogTests
{
    private static readonly IReadOnlyList<Phase> Phases = Phase.All;

    private static long[] BytesOf(int i) => [.. MemoryCategories.All.Select(c => (i * 31L) + ((int)c * 1_000_003L) - 500)];

    [Fact]
    public void Snapshots_read_back_as_added_across_chunks()
    {
        var log = new MemorySnapshotLog();
        const int Count = 2500; // more than two chunks
        for (int i = 0; i < Count; i++)
        {
            Phase phase = Phases[i % 4];
            log.Add(i / 4, phase, BytesOf(i), i * 1000L, (i * 1000L) + 7, i * 0.25e-3);
        }

        Assert.Equal(Count, log.Count);
        foreach (int i in new[] { 0, 1, 1023, 1024, 1025, 2047, 2048, Count - 1 })
        {
            MemorySnapshot s = log[i];
            Assert.Equal(i / 4, s.Step);
            Assert.Equal(Phases[i % 4], s.Phase);
            Assert.Equal(BytesOf(i), s.Bytes);
            Assert.Equal(i * 1000L, s.AllocatorBytes);
            Assert.Equal((i * 1000L) + 7, s.PeakBytes);
            Assert.Equal(i * 0.25e-3, s.Seconds);
        }

        Assert.Equal(Enumerable.Range(0, Count).Select(i => i / 4), log.Select(s => s.Step));
        Assert.Equal(log[Count - 1], log[^1], new SnapshotFigures());
    }

    [Fact]
    public void A_snapshot_added_whole_reads_back_and_bad_input_is_refused()
    {
        var log = new MemorySnapshotLog();
        var snapshot = new MemorySnapshot(3, Phase.ZeroGrad, BytesOf(9), 123, 456, 0.5);
        log.Add(snapshot);
        Assert.Equal(snapshot, log[0], new SnapshotFigures());

        Assert.Throws<ArgumentOutOfRangeException>(() => log[1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => log[-1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => log.Add(0, Phase.Forward, new long[3], 0, 0, 0));
        Assert.Single(log);
    }

    /// <summary>Equal figures (a record's own equality compares the arrays by reference).</summary>
    private sealed class SnapshotFigures : IEqualityComparer<MemorySnapshot>
    {
        public bool Equals(MemorySnapshot? x, MemorySnapshot? y) =>
            x is not null && y is not null && x.Step == y.Step && x.Phase == y.Phase && x.Bytes.SequenceEqual(y.Bytes)
            && x.AllocatorBytes == y.AllocatorBytes && x.PeakBytes == y.PeakBytes && x.Seconds.Equals(y.Seconds);

        public int GetHashCode(MemorySnapshot obj) => obj.Step;
    }
}
