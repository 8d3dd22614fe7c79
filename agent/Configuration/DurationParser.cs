using System.Globalization;

namespace Gputel.Agent.Configuration;

/// <summary>Parses durations the way Prometheus users write them: <c>10ms</c>, <c>1s</c>, <c>1.5s</c>, <c>2m</c>, <c>500us</c>.</summary>
internal static class DurationParser
{
    private static readonly (string Suffix, double Seconds)[] Units =
    [
        ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600),
    ];

    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        string t = text.Trim();
        // Longest suffix first so "ms" is not read as "m" + "s".
        foreach ((string suffix, double seconds) in Units.OrderByDescending(u => u.Suffix.Length))
        {
            if (t.EndsWith(suffix, StringComparison.Ordinal)
                && double.TryParse(t.AsSpan(0, t.Length - suffix.Length), NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
                && value > 0 && double.IsFinite(value))
            {
                duration = TimeSpan.FromSeconds(value * seconds);
                return true;
            }
        }

        return false;
    }

    public static string Format(TimeSpan d) =>
        d.TotalSeconds >= 1 ? $"{d.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)}s" : $"{d.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture)}ms";
}
