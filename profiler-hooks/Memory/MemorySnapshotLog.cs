using System.Collections;

using Gputel.Core.Memory;
using Gputel.Core.Training;

namespace Gputel.Profiler.Memory;

/// <summary>
/// Every snapshot of a run, in order, kept as numbers in a few large arrays; each read builds a
/// <see cref="MemorySnapshot"/>. A training loop that releases TorchSharp's scalars collects
/// garbage every step, and a full collection marks every live object: kept as objects (a record and
/// its array each), a 10,000-step run's 40,000 snapshots added 0.8 ms to each of its per-step
/// collections on the benchmark machine, a sixth of a tiny model's step. Arrays of numbers are
/// not scanned.
/// </summary>
public sealed class MemorySnapshotLog : IReadOnlyList<MemorySnapshot>
{
    private const int ChunkRecords = 1024;
    // Per record: the categories, then step, phase index, allocator bytes, peak bytes, seconds (as bits).
    private static readonly int Categories = MemoryCategories.All.Count;
    private static readonly int Stride = Categories + 5;
    private readonly List<long[]> _chunks = [];
    private readonly List<Phase> _phases = [];

    /// <summary>Snapshots kept.</summary>
    public int Count { get; private set; }

    /// <summary>The snapshot at <paramref name="index"/> (from 0, in the order taken).</summary>
    public MemorySnapshot this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            ReadOnlySpan<long> record = _chunks[index / ChunkRecords].AsSpan(index % ChunkRecords * Stride, Stride);
            return new MemorySnapshot(
                (int)record[Categories],
                _phases[(int)record[Categories + 1]],
                record[..Categories].ToArray(),
                record[Categories + 2],
                record[Categories + 3],
                BitConverter.Int64BitsToDouble(record[Categories + 4]));
        }
    }

    /// <summary>Appends a snapshot: <paramref name="bytes"/> holds one figure per <see cref="MemoryCategory"/>.</summary>
    public void Add(int step, Phase phase, ReadOnlySpan<long> bytes, long allocatorBytes, long peakBytes, double seconds)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(bytes.Length, Categories);
        if (Count % ChunkRecords == 0 && Count / ChunkRecords == _chunks.Count)
        {
            _chunks.Add(new long[ChunkRecords * Stride]);
        }

        Span<long> record = _chunks[Count / ChunkRecords].AsSpan(Count % ChunkRecords * Stride, Stride);
        bytes.CopyTo(record);
        record[Categories] = step;
        record[Categories + 1] = PhaseIndex(phase);
        record[Categories + 2] = allocatorBytes;
        record[Categories + 3] = peakBytes;
        record[Categories + 4] = BitConverter.DoubleToInt64Bits(seconds);
        Count++;
    }

    /// <summary>Appends <paramref name="snapshot"/>.</summary>
    public void Add(MemorySnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        Add(snapshot.Step, snapshot.Phase, snapshot.Bytes, snapshot.AllocatorBytes, snapshot.PeakBytes, snapshot.Seconds);
    }

    /// <inheritdoc />
    public IEnumerator<MemorySnapshot> GetEnumerator()
    {
        for (int i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    // A loop has a handful of phases, the same each step.
    private int PhaseIndex(Phase phase)
    {
        for (int i = 0; i < _phases.Count; i++)
        {
            if (_phases[i] == phase)
            {
                return i;
            }
        }

        _phases.Add(phase);
        return _phases.Count - 1;
    }
}
