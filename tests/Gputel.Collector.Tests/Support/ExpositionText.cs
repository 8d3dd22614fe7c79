using System.Globalization;
using System.Text.RegularExpressions;
using Gputel.Collector.Exposition;

namespace Gputel.Tests.Support;

/// <summary>One sample line of a Prometheus text exposition.</summary>
internal sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>Renders an exposition and parses its sample lines, for assertions on names, labels and values.</summary>
internal static partial class ExpositionText
{
    public static async Task<string> RenderAsync(PrometheusExposition exposition)
    {
        using var stream = new MemoryStream();
        await exposition.WriteAsync(stream);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    public static IReadOnlyList<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (string line in text.Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            Match m = LinePattern().Match(line);
            Assert.True(m.Success, $"unparsable exposition line: {line}");
            var labels = new Dictionary<string, string>();
            foreach (Match l in LabelPattern().Matches(m.Groups["labels"].Value))
            {
                labels[l.Groups["k"].Value] = l.Groups["v"].Value;
            }

            samples.Add(new Sample(m.Groups["name"].Value, labels, double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture)));
        }

        return samples;
    }

    /// <summary>The one sample named <paramref name="name"/> whose labels include all of <paramref name="labels"/>.</summary>
    public static Sample Single(this IReadOnlyList<Sample> samples, string name, params (string Key, string Value)[] labels) =>
        Assert.Single(samples, s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out string? v) && v == l.Value));

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})? (?<value>\S+)$")]
    private static partial Regex LinePattern();

    [GeneratedRegex(@"(?<k>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<v>(?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelPattern();
}
