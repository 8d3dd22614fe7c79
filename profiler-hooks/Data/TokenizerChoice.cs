using Gputel.Core.Data;

namespace Gputel.Profiler.Data;

/// <summary>
/// Where a dataset's text gets its token ids (<c>gputel finetune --tokenizer</c>): the model's own
/// tokenizer files (<see cref="Auto"/>), a directory of them, or one token per byte, only when
/// asked for (<see cref="Bytes"/>). A model read from disk that ships no tokenizer is refused rather
/// than trained on bytes: byte ids are a different vocabulary, so the loss and the sequence lengths
/// would not be the ones the model meets in use.
/// </summary>
public sealed record TokenizerChoice
{
    private TokenizerChoice(string? directory, bool bytes)
    {
        Directory = directory;
        IsBytes = bytes;
    }

    /// <summary>The model's own: its checkpoint's (or config.json's) directory, bytes for a built-in shape.</summary>
    public static TokenizerChoice Auto { get; } = new(null, bytes: false);

    /// <summary>One token per UTF-8 byte (<see cref="ByteTokenizer"/>), whatever the model.</summary>
    public static TokenizerChoice Bytes { get; } = new(null, bytes: true);

    /// <summary>The directory named, or null for <see cref="Auto"/> and <see cref="Bytes"/>.</summary>
    public string? Directory { get; }

    /// <summary>Whether byte tokens were asked for.</summary>
    public bool IsBytes { get; }

    /// <summary>The tokenizer files in <paramref name="directory"/> (a <c>tokenizer.json</c> path names its directory).</summary>
    public static TokenizerChoice From(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        string full = Path.GetFullPath(directory);
        return new(Path.GetFileName(full) == HuggingFaceTokenizer.TokenizerJson ? Path.GetDirectoryName(full)! : full, bytes: false);
    }

    /// <summary><c>auto</c>, <c>bytes</c>, or a directory (or its <c>tokenizer.json</c>), as <c>--tokenizer</c> takes them.</summary>
    /// <exception cref="ArgumentException">The text is empty, or names neither a directory nor a tokenizer.json.</exception>
    public static TokenizerChoice Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text is "auto")
        {
            return Auto;
        }

        if (text is "bytes")
        {
            return Bytes;
        }

        if (System.IO.Directory.Exists(text) || (File.Exists(text) && Path.GetFileName(text) == HuggingFaceTokenizer.TokenizerJson))
        {
            return From(text);
        }

        throw new ArgumentException($"invalid tokenizer '{text}': expected auto, bytes, or a directory holding {HuggingFaceTokenizer.TokenizerJson}");
    }

    /// <summary>
    /// The tokenizer this choice gives for a model whose files are in <paramref name="modelDirectory"/>
    /// (a checkpoint's or config.json's directory; null for a built-in shape, which ships none).
    /// </summary>
    /// <exception cref="FileNotFoundException">The directory looked in holds no tokenizer; the message names the file and the ways out.</exception>
    /// <exception cref="NotSupportedException">The tokenizer there is one gputel cannot run (SentencePiece).</exception>
    /// <exception cref="InvalidDataException">A tokenizer file is malformed.</exception>
    public ITextTokenizer Open(string? modelDirectory)
    {
        if (IsBytes)
        {
            return new ByteTokenizer();
        }

        string? directory = Directory ?? modelDirectory;
        return directory is null ? new ByteTokenizer() : HuggingFaceTokenizer.FromDirectory(directory);
    }

    /// <summary>As <c>--tokenizer</c> is written: <c>auto</c>, <c>bytes</c>, or the directory.</summary>
    public override string ToString() => IsBytes ? "bytes" : Directory ?? "auto";
}
