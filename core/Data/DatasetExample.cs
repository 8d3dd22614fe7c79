namespace Gputel.Core.Data;

/// <summary>
/// One training example as a sequence of turns, each the text the model is conditioned on (the
/// template around a user message) and the answer it learns, ended by the end-of-sequence token.
/// An Alpaca example is one turn; a conversation has one per assistant message.
/// </summary>
/// <param name="Turns">Prompt and answer of each turn, in order.</param>
public sealed record DatasetExample(IReadOnlyList<(string Prompt, string Answer)> Turns)
{
    /// <summary>
    /// Tokens of the whole sequence before the cutoff: every prompt and answer plus one end token
    /// per answer, as the reference workload's batches (<c>TrainingBatches</c>) build it.
    /// </summary>
    public int CountTokens(ITextTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        long tokens = 0;
        foreach ((string prompt, string answer) in Turns)
        {
            tokens += tokenizer.CountTokens(prompt) + tokenizer.CountTokens(answer) + 1;
        }

        return (int)Math.Min(tokens, int.MaxValue);
    }
}
