namespace Gputel.Core.Data;

/// <summary>Turns text into token ids (the reference workload's batches, the lengths of a dataset).</summary>
public interface ITextTokenizer
{
    /// <summary>Size of the id space (ids are below it).</summary>
    int VocabularySize { get; }

    /// <summary>Token ids of <paramref name="text"/>.</summary>
    IReadOnlyList<int> Encode(string text);

    /// <summary>How many tokens <see cref="Encode"/> gives for <paramref name="text"/>.</summary>
    int CountTokens(string text) => Encode(text).Count;

    /// <summary>Id used for padding (masked out of the loss).</summary>
    int PadId => ByteTokenizer.Pad;

    /// <summary>Id that ends a sequence.</summary>
    int EndId => ByteTokenizer.EndOfText;
}

/// <summary>
/// The fallback when no vocabulary is at hand: one token per UTF-8 byte, with ids offset past a
/// few special ids. Token counts differ from a real tokenizer's (about 3-4 times more tokens), which
/// is what matters for memory only through the sequence length, and that is capped by the cutoff.
/// </summary>
public sealed class ByteTokenizer : ITextTokenizer
{
    /// <summary>Id used for padding.</summary>
    public const int Pad = 0;

    /// <summary>Id that ends a sequence.</summary>
    public const int EndOfText = 1;

    private const int Offset = 2;

    /// <inheritdoc />
    public int VocabularySize => 256 + Offset;

    /// <inheritdoc />
    public int PadId => Pad;

    /// <inheritdoc />
    public int EndId => EndOfText;

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text) =>
        System.Text.Encoding.UTF8.GetBytes(text ?? string.Empty).Select(b => b + Offset).ToArray();

    /// <inheritdoc />
    public int CountTokens(string text) => System.Text.Encoding.UTF8.GetByteCount(text ?? string.Empty);
}
