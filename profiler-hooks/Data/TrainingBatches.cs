using static TorchSharp.torch;

namespace Gputel.Profiler.Data;

/// <summary>
/// Batches for causal-LM fine-tuning: prompt and answer tokens, cut to the cutoff length, padded,
/// with labels of prompt and padding positions set to -100 so only answer tokens are learned.
/// </summary>
public static class TrainingBatches
{
    /// <summary>The label that the loss ignores.</summary>
    public const long IgnoreIndex = -100;

    /// <summary>Token ids and labels for examples, as two [batch, length] int64 tensors.</summary>
    public static (Tensor InputIds, Tensor Labels) FromExamples(IReadOnlyList<AlpacaExample> examples, ITextTokenizer tokenizer, int cutoffLength, int padId = ByteTokenizer.Pad, int endId = ByteTokenizer.EndOfText)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentOutOfRangeException.ThrowIfLessThan(cutoffLength, 2);
        var rows = new List<(long[] Ids, long[] Labels)>();
        foreach (AlpacaExample example in examples)
        {
            var prompt = tokenizer.Encode(example.Prompt);
            var answer = tokenizer.Encode(example.Output).Append(endId).ToList();
            long[] ids = prompt.Concat(answer).Take(cutoffLength).Select(i => (long)i).ToArray();
            long[] labels = ids.Select((id, i) => i < prompt.Count ? IgnoreIndex : id).ToArray();
            rows.Add((ids, labels));
        }

        int length = rows.Max(r => r.Ids.Length);
        var idData = new long[rows.Count * length];
        var labelData = new long[rows.Count * length];
        Array.Fill(idData, padId);
        Array.Fill(labelData, IgnoreIndex);
        for (int r = 0; r < rows.Count; r++)
        {
            rows[r].Ids.CopyTo(idData, r * length);
            rows[r].Labels.CopyTo(labelData, r * length);
        }

        return (tensor(idData).reshape(rows.Count, length), tensor(labelData).reshape(rows.Count, length));
    }

    /// <summary>A synthetic batch of random token ids of exactly <paramref name="length"/>, every position trained on.</summary>
    public static (Tensor InputIds, Tensor Labels) Synthetic(int batchSize, int length, int vocabularySize, long seed)
    {
        using Generator generator = new Generator((ulong)seed);
        Tensor ids = randint(0, vocabularySize, [batchSize, length], dtype: ScalarType.Int64, generator: generator);
        return (ids, ids.clone());
    }
}
