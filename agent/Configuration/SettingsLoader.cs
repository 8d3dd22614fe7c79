using Gputel.Collector.Collectors;
using Gputel.Collector.Exposition;
using YamlDotNet.RepresentationModel;

namespace Gputel.Agent.Configuration;

/// <summary>
/// Merges the agent's settings: built-in defaults, then the optional YAML config file, then
/// <c>GPUTEL_*</c> environment variables, then command-line flags (the later wins). Every value is
/// checked once here, and a bad one is reported with its name, its value and its source.
/// </summary>
internal static class SettingsLoader
{
    /// <summary>Setting names as written in the config file; flags are <c>--</c> plus the name with dashes.</summary>
    public static readonly IReadOnlyList<string> Keys = ["listen", "memory_interval", "interval", "collectors", "metric_names", "nvml_library", "web_config"];

    public static string EnvironmentName(string key) => "GPUTEL_" + key.ToUpperInvariant();

    public static string FlagName(string key) => "--" + key.Replace('_', '-');

    /// <summary>Builds the settings. <paramref name="flags"/> holds the flags given, by key; absent keys are null.</summary>
    public static AgentSettings Load(string? configPath, IReadOnlyDictionary<string, string?> flags, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(flags);
        ArgumentNullException.ThrowIfNull(environment);
        var values = new Dictionary<string, (string Value, string Source)>
        {
            ["listen"] = (AgentSettings.DefaultListen, "default"),
            ["memory_interval"] = (AgentSettings.DefaultMemoryInterval, "default"),
            ["interval"] = (AgentSettings.DefaultInterval, "default"),
            ["collectors"] = ("all", "default"),
            ["metric_names"] = ("default", "default"),
        };

        configPath ??= environment("GPUTEL_CONFIG");
        if (!string.IsNullOrEmpty(configPath))
        {
            foreach ((string key, string value) in ReadConfigFile(configPath))
            {
                values[key] = (value, $"config file {configPath}");
            }
        }

        foreach (string key in Keys)
        {
            string? env = environment(EnvironmentName(key));
            if (!string.IsNullOrEmpty(env))
            {
                values[key] = (env, $"environment variable {EnvironmentName(key)}");
            }

            if (flags.TryGetValue(key, out string? flag) && flag is not null)
            {
                values[key] = (flag, $"flag {FlagName(key)}");
            }
        }

        return Validate(values);
    }

    private static AgentSettings Validate(Dictionary<string, (string Value, string Source)> values)
    {
        (string listenText, string listenSource) = values["listen"];
        if (!ListenAddress.TryParse(listenText, out ListenAddress? listen))
        {
            throw Bad("listen", listenText, listenSource, "expected HOST:PORT, e.g. 0.0.0.0:9445, :9445 or 127.0.0.1:0");
        }

        TimeSpan memory = Duration(values, "memory_interval", TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(10));
        TimeSpan interval = Duration(values, "interval", TimeSpan.FromMilliseconds(10), TimeSpan.FromHours(1));
        if (memory > interval)
        {
            (string v, string s) = values["memory_interval"];
            throw Bad("memory_interval", v, s, $"must not be longer than interval ({DurationParser.Format(interval)}): memory is the high-frequency family");
        }

        (string collectorsText, string collectorsSource) = values["collectors"];
        IReadOnlyList<string> collectors;
        try
        {
            collectors = CollectorCatalog.Select(collectorsText);
        }
        catch (ArgumentException e)
        {
            throw Bad("collectors", collectorsText, collectorsSource, e.Message);
        }

        (string namesText, string namesSource) = values["metric_names"];
        NamingProfile profile = namesText.Trim().ToLowerInvariant() switch
        {
            "default" => NamingProfile.Default,
            "dcgm" => NamingProfile.Dcgm,
            _ => throw Bad("metric_names", namesText, namesSource, "expected 'default' or 'dcgm'"),
        };

        string? library = values.TryGetValue("nvml_library", out var lib) ? lib.Value : null;
        if (library is not null && !File.Exists(library))
        {
            throw Bad("nvml_library", library, lib.Source, "no such file");
        }

        return new AgentSettings(listen!, memory, interval, collectors, profile, library)
        {
            Web = values.TryGetValue("web_config", out var web) ? WebConfigLoader.Load(web.Value, web.Source) : null,
        };
    }

    private static TimeSpan Duration(Dictionary<string, (string Value, string Source)> values, string key, TimeSpan min, TimeSpan max)
    {
        (string text, string source) = values[key];
        if (!DurationParser.TryParse(text, out TimeSpan d))
        {
            throw Bad(key, text, source, "expected a duration with a unit, e.g. 10ms, 1s, 2m");
        }

        if (d < min || d > max)
        {
            throw Bad(key, text, source, $"must be between {DurationParser.Format(min)} and {DurationParser.Format(max)}");
        }

        return d;
    }

    /// <summary>Reads a flat YAML mapping of the known keys; lists are allowed for <c>collectors</c>.</summary>
    private static IEnumerable<(string Key, string Value)> ReadConfigFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SettingsException($"cannot read config file {path}: {e.Message}");
        }

        YamlStream yaml = YamlText.Load(text, $"config file {path}");

        if (yaml.Documents.Count == 0)
        {
            return [];
        }

        if (yaml.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new SettingsException($"config file {path} must be a mapping of settings (key: value), e.g. 'listen: 0.0.0.0:9445'");
        }

        var result = new List<(string, string)>();
        foreach ((YamlNode keyNode, YamlNode valueNode) in root.Children)
        {
            string key = ((keyNode as YamlScalarNode)?.Value ?? string.Empty).Replace('-', '_');
            if (!Keys.Contains(key))
            {
                throw new SettingsException($"config file {path}, line {keyNode.Start.Line}: unknown setting '{keyNode}'; known: {string.Join(", ", Keys)}");
            }

            string value = valueNode switch
            {
                YamlScalarNode scalar => scalar.Value ?? string.Empty,
                YamlSequenceNode list when key == "collectors" => string.Join(',', list.Children.Select(c => (c as YamlScalarNode)?.Value ?? string.Empty)),
                _ => throw new SettingsException($"config file {path}, line {valueNode.Start.Line}: '{key}' must be a single value"),
            };
            result.Add((key, value));
        }

        return result;
    }

    private static SettingsException Bad(string key, string value, string source, string why) =>
        new($"invalid {key.Replace('_', '-')} '{value}' (from {source}): {why}");
}
