namespace Gputel.Core.Checkpoints;

/// <summary>
/// A safetensors file or checkpoint index that breaks the format. The message starts with the
/// file's path and then says what is wrong with it.
/// </summary>
public sealed class SafetensorsException : Exception
{
    /// <summary>Creates an exception with no details.</summary>
    public SafetensorsException()
    {
    }

    /// <summary>Creates an exception with <paramref name="message"/>.</summary>
    public SafetensorsException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with <paramref name="message"/>, caused by <paramref name="innerException"/>.</summary>
    public SafetensorsException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception about <paramref name="filePath"/> saying what <paramref name="problem"/> it has.</summary>
    internal SafetensorsException(string filePath, string problem, Exception? innerException = null)
        : base($"{filePath}: {problem}", innerException)
    {
        FilePath = filePath;
    }

    /// <summary>The file at fault, when known.</summary>
    public string? FilePath { get; }
}
