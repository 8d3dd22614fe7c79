using System.Diagnostics;

namespace Gputel.Core.Data;

/// <summary>How far a dataset has been read, for a progress line.</summary>
/// <param name="Examples">Records read so far.</param>
/// <param name="BytesRead">Bytes of the file read so far.</param>
/// <param name="TotalBytes">Size of the file.</param>
/// <param name="Elapsed">Time since reading began.</param>
public sealed record DatasetProgress(long Examples, long BytesRead, long TotalBytes, TimeSpan Elapsed);

/// <summary>
/// The token lengths of a dataset's examples (before any cutoff) and what they mean for memory:
/// the usual collators (Hugging Face's <c>DataCollatorForSeq2Seq</c>, LLaMA-Factory's, the reference
/// workload's) pad each batch to its longest sequence, not to the cutoff, so a batch's length is the
/// longest of its sequences, cut to the cutoff.
/// </summary>
public sealed class SequenceLengths
{
    private readonly int[] _sorted;

    /// <summary>Lengths of the examples, in any order.</summary>
    /// <exception cref="ArgumentException">No lengths, or a length below one.</exception>
    public SequenceLengths(IEnumerable<int> lengths, int skipped = 0)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        _sorted = [.. lengths];
        if (_sorted.Length == 0)
        {
            throw new ArgumentException("no examples to measure", nameof(lengths));
        }

        Array.Sort(_sorted);
        if (_sorted[0] < 1)
        {
            throw new ArgumentException($"a sequence length must be at least 1, not {_sorted[0]}", nameof(lengths));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(skipped);
        Skipped = skipped;
    }

    /// <summary>Examples measured.</summary>
    public int Count => _sorted.Length;

    /// <summary>Records left out because they would not train (see <see cref="DatasetRecord.SkipReason"/>).</summary>
    public int Skipped { get; }

    /// <summary>The shortest example, in tokens.</summary>
    public int Min => _sorted[0];

    /// <summary>The longest example, in tokens.</summary>
    public int Max => _sorted[^1];

    /// <summary>Mean length, in tokens.</summary>
    public double Mean => _sorted.Average(l => (double)l);

    /// <summary>
    /// The length below or at which a share <paramref name="quantile"/> (0 to 1) of the examples lie:
    /// the nearest-rank percentile, always one of the lengths.
    /// </summary>
    public int Percentile(double quantile)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(quantile, 0.0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quantile, 1.0);
        int rank = (int)Math.Ceiling(quantile * Count);
        return _sorted[Math.Clamp(rank - 1, 0, Count - 1)];
    }

    /// <summary>Examples longer than <paramref name="cutoff"/>, which the cutoff cuts.</summary>
    public int CountLongerThan(int cutoff)
    {
        // Binary search for the first length above the cutoff.
        int low = 0, high = Count;
        while (low < high)
        {
            int middle = (low + high) / 2;
            if (_sorted[middle] <= cutoff)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return Count - low;
    }

    /// <summary>The share of examples (0 to 1) longer than <paramref name="cutoff"/>.</summary>
    public double ShareLongerThan(int cutoff) => (double)CountLongerThan(cutoff) / Count;

    /// <summary>The batch that holds the longest example: every sequence padded to it, cut to <paramref name="cutoff"/>.</summary>
    public int LongestBatchLength(int cutoff) => Math.Min(Max, cutoff);

    /// <summary>
    /// The median padded length of a batch of <paramref name="batchSize"/> examples drawn at
    /// random: the longest of them, cut to <paramref name="cutoff"/>. The longest of b draws is at
    /// most x with probability F(x)^b, so the median is the smallest length whose share F reaches
    /// 0.5^(1/b); for one sequence a batch, the median length.
    /// </summary>
    public int TypicalBatchLength(int batchSize, int cutoff)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        return Math.Min(Percentile(Math.Pow(0.5, 1.0 / batchSize)), cutoff);
    }

    /// <summary>
    /// Measures every example of <paramref name="dataset"/> with <paramref name="tokenizer"/>,
    /// calling <paramref name="progress"/> about every <paramref name="interval"/> (and not at all for
    /// a file read faster).
    /// </summary>
    /// <exception cref="InvalidDataException">The file is malformed, or has no example that trains.</exception>
    public static SequenceLengths Measure(TrainingDataset dataset, ITextTokenizer tokenizer, Action<DatasetProgress>? progress = null, TimeSpan? interval = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(tokenizer);
        TimeSpan every = interval ?? TimeSpan.FromSeconds(3);
        var clock = Stopwatch.StartNew();
        TimeSpan next = every;
        var lengths = new List<int>();
        int skipped = 0;
        string? firstSkip = null;
        foreach (DatasetRecord record in dataset.Records())
        {
            if (record.Example is { } example)
            {
                lengths.Add(example.CountTokens(tokenizer));
            }
            else
            {
                skipped++;
                firstSkip ??= $"record {record.Number}: {record.SkipReason}";
            }

            if (progress is not null && clock.Elapsed >= next)
            {
                progress(new DatasetProgress(lengths.Count + skipped, dataset.Position, dataset.Length, clock.Elapsed));
                next = clock.Elapsed + every;
            }
        }

        return lengths.Count == 0
            ? throw new InvalidDataException(skipped == 0 ? $"{dataset.Path}: no examples" : $"{dataset.Path}: no example trains ({skipped} skipped; first, {firstSkip})")
            : new SequenceLengths(lengths, skipped);
    }
}
