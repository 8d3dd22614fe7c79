using System.Globalization;
using System.Text;
using Prometheus;

namespace Gputel.Bench.BareServer;

/// <summary>
/// Reads a Prometheus text exposition (0.0.4) into a new registry of gauges and counters with the
/// same names, help, label names, label values and values. Only what gputel writes is understood:
/// gauges and counters, one <c># TYPE</c> before each family's samples.
/// </summary>
internal static class StaticSeries
{
    public static CollectorRegistry Load(string exposition, out int series)
    {
        CollectorRegistry registry = Metrics.NewCustomRegistry();
        IMetricFactory factory = Metrics.WithCustomRegistry(registry);
        var help = new Dictionary<string, string>(StringComparer.Ordinal);
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var families = new Dictionary<string, Collector>(StringComparer.Ordinal);
        series = 0;
        foreach (string line in exposition.Split('\n'))
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                (string name, string text) = SplitFirst(line["# HELP ".Length..]);
                help[name] = UnescapeHelp(text);
            }
            else if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                (string name, string type) = SplitFirst(line["# TYPE ".Length..]);
                types[name] = type;
            }
            else if (line.Length > 0 && line[0] != '#')
            {
                (string name, List<(string Name, string Value)> labels, double value) = ParseSample(line);
                if (!families.TryGetValue(name, out Collector? family))
                {
                    string[] labelNames = labels.Select(l => l.Name).ToArray();
                    string text = help.GetValueOrDefault(name, name);
                    family = types.GetValueOrDefault(name) == "counter"
                        ? factory.CreateCounter(name, text, labelNames)
                        : factory.CreateGauge(name, text, labelNames);
                    families[name] = family;
                }

                string[] values = labels.Select(l => l.Value).ToArray();
                if (family is Counter counter)
                {
                    counter.WithLabels(values).IncTo(value);
                }
                else
                {
                    ((Gauge)family).WithLabels(values).Set(value);
                }

                series++;
            }
        }

        return registry;
    }

    private static (string First, string Remainder) SplitFirst(string text)
    {
        int space = text.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? (text, "") : (text[..space], text[(space + 1)..]);
    }

    private static string UnescapeHelp(string text) => text.Replace("\\n", "\n", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal);

    private static (string Name, List<(string Name, string Value)> Labels, double Value) ParseSample(string line)
    {
        int i = 0;
        while (i < line.Length && line[i] is not '{' and not ' ')
        {
            i++;
        }

        string name = line[..i];
        var labels = new List<(string, string)>();
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                int eq = line.IndexOf('=', i);
                string labelName = line[i..eq];
                i = eq + 2; // past ="
                var value = new StringBuilder();
                for (; line[i] != '"'; i++)
                {
                    if (line[i] == '\\')
                    {
                        i++;
                        value.Append(line[i] == 'n' ? '\n' : line[i]);
                    }
                    else
                    {
                        value.Append(line[i]);
                    }
                }

                labels.Add((labelName, value.ToString()));
                i++; // past the closing quote
                if (line[i] == ',')
                {
                    i++;
                }
            }

            i++; // past }
        }

        string number = line[(i + 1)..].Split(' ')[0];
        double parsed = number switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            _ => double.Parse(number, CultureInfo.InvariantCulture),
        };
        return (name, labels, parsed);
    }
}
