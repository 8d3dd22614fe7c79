using System.Globalization;
using Gputel.Core.Reports;

namespace Gputel.Core.Estimation;

/// <summary>
/// What <c>gputel fit</c> keeps free of a GPU's memory beyond the estimated peak: a share of it
/// (default 5%) or a fixed size. The estimate already counts the CUDA context and the caching
/// allocator's fragmentation; the margin is for what it cannot know (other processes, NCCL
/// buffers, a framework's own extras).
/// </summary>
/// <param name="Fraction">A share of the GPU's memory, 0 to below 1; used when <paramref name="Bytes"/> is null.</param>
/// <param name="Bytes">A fixed size instead of a share.</param>
public sealed record FitMargin(double Fraction, long? Bytes = null)
{
    /// <summary>The default: 5% of the GPU's memory.</summary>
    public static FitMargin Default { get; } = new(0.05);

    /// <summary>Bytes kept free of <paramref name="gpuMemoryBytes"/>.</summary>
    public long Reserve(long gpuMemoryBytes) => Bytes ?? (long)(Fraction * gpuMemoryBytes);

    /// <summary><c>5%</c> or a size such as <c>2GiB</c> (see <see cref="ByteText.TryParseSize"/>).</summary>
    /// <exception cref="ArgumentException">Neither a percentage from 0 to below 100 nor a size.</exception>
    public static FitMargin Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        if (trimmed.EndsWith('%'))
        {
            return double.TryParse(trimmed[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out double percent) && percent is >= 0 and < 100
                ? new FitMargin(percent / 100)
                : throw new ArgumentException($"invalid margin '{text}': a percentage must be from 0 to below 100, e.g. 5%");
        }

        return ByteText.TryParseSize(trimmed, out long bytes)
            ? new FitMargin(0, bytes)
            : throw new ArgumentException($"invalid margin '{text}': expected a percentage (5%) or a size (2GiB, 512MiB)");
    }

    /// <inheritdoc />
    public override string ToString() => Bytes is { } b ? ByteText.Format(b) : (Fraction * 100).ToString("0.##", CultureInfo.InvariantCulture) + "%";
}
