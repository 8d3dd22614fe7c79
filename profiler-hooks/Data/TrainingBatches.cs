using Gputel.Core.Data;
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
            (int keepPrompt, int keepAnswer) = Split(prompt.Count, answer.Count, cutoffLength);
            long[] ids = prompt.Take(keepPrompt).Concat(answer.Take(keepAnswer)).Select(i => (long)i).ToArray();
            long[] labels = ids.Select((id, i) => i < keepPrompt ? IgnoreIndex : id).ToArray();
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

    /// <summary>
    /// How many prompt and answer tokens an example keeps within <paramref name="cutoff"/>, each cut
    /// from its end. Cutting the two together, prompt first, left nothing of the answer whenever the
    /// prompt alone filled the cutoff: every label ignored, a loss over no positions (NaN), and a
    /// step that trains on nothing. So the answer keeps all of itself when it takes at most half the
    /// cutoff, everything the prompt leaves when the prompt takes at most half, and otherwise its
    /// share of the two; never less than one token.
    /// </summary>
    internal static (int Prompt, int Answer) Split(int prompt, int answer, int cutoff)
    {
        if (prompt + answer <= cutoff)
        {
            return (prompt, answer);
        }

        int share = (int)((long)cutoff * answer / (prompt + answer));
        int keepAnswer = answer * 2 <= cutoff ? answer
            : prompt * 2 <= cutoff ? cutoff - prompt
            : Math.Max(1, share);
        return (Math.Min(prompt, cutoff - keepAnswer), keepAnswer);
    }

    /// <summary>A synthetic batch of random token ids of exactly <paramref name="length"/>, every position trained on.</summary>
    public static (Tensor InputIds, Tensor Labels) Synthetic(int batchSize, int length, int vocabularySize, long seed)
    {
        using Generator generator = new Generator((ulong)seed);
        Tensor ids = randint(0, vocabularySize, [batchSize, length], dtype: ScalarType.Int64, generator: generator);
        return (ids, ids.clone());
    }
}
