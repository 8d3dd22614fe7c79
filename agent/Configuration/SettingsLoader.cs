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
    public static readonly IReadOnlyList<string> Keys =
    [
        "listen", "memory_interval", "interval", "collectors", "metric_names", "nvml_library",
        "otlp_endpoint", "otlp_protocol", "otlp_interval", "proc_root", "pod_resources_socket", "web_config",
    ];

    /// <summary>The OTLP settings, which <c>finetune</c> shares with the agent.</summary>
    public static readonly IReadOnlyList<string> OtlpKeys = ["otlp_endpoint", "otlp_protocol", "otlp_interval"];

    public static string EnvironmentName(string key) => "GPUTEL_" + key.ToUpperInvariant();

    public static string FlagName(string key) => "--" + key.Replace('_', '-');

    /// <summary>Builds the settings. <paramref name="flags"/> holds the flags given, by key; absent keys are null.</summary>
    public static AgentSettings Load(string? configPath, IReadOnlyDictionary<string, string?> flags, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(flags);
        ArgumentNullException.ThrowIfNull(environment);
        var values = Defaults();
        configPath ??= environment("GPUTEL_CONFIG");
        if (!string.IsNullOrEmpty(configPath))
        {
            foreach ((string key, string value) in ReadConfigFile(configPath))
            {
                values[key] = (value, $"config file {configPath}");
            }
        }

        ApplyEnvironmentAndFlags(values, Keys, flags, environment);
        return Validate(values);
    }

    /// <summary>
    /// The OTLP settings alone, from <c>GPUTEL_OTLP_*</c> and flags (for commands without a config
    /// file, such as <c>finetune</c>); null when no endpoint is set.
    /// </summary>
    public static OtlpSettings? LoadOtlp(IReadOnlyDictionary<string, string?> flags, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(flags);
        ArgumentNullException.ThrowIfNull(environment);
        var values = Defaults();
        ApplyEnvironmentAndFlags(values, OtlpKeys, flags, environment);
        return ValidateOtlp(values);
    }

    private static Dictionary<string, (string Value, string Source)> Defaults() => new()
    {
        ["listen"] = (AgentSettings.DefaultListen, "default"),
        ["memory_interval"] = (AgentSettings.DefaultMemoryInterval, "default"),
        ["interval"] = (AgentSettings.DefaultInterval, "default"),
        ["collectors"] = ("all", "default"),
        ["metric_names"] = ("default", "default"),
        ["otlp_protocol"] = (OtlpSettings.DefaultProtocol, "default"),
        ["otlp_interval"] = (OtlpSettings.DefaultInterval, "default"),
        ["proc_root"] = (AgentSettings.DefaultProcRoot, "default"),
    };

    private static void ApplyEnvironmentAndFlags(
        Dictionary<string, (string Value, string Source)> values, IEnumerable<string> keys, IReadOnlyDictionary<string, string?> flags, Func<string, string?> environment)
    {
        foreach (string key in keys)
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

        (string procRoot, string procSource) = values["proc_root"];
        if (!Directory.Exists(procRoot))
        {
            throw Bad("proc_root", procRoot, procSource, "no such directory");
        }

        return new AgentSettings(listen!, memory, interval, collectors, profile, library)
        {
            Otlp = ValidateOtlp(values),
            ProcRoot = procRoot,
            PodResourcesSocket = PodResourcesSocket(values),
            Web = WebConfigFile(values),
        };
    }

    private static WebConfig? WebConfigFile(Dictionary<string, (string Value, string Source)> values)
    {
        if (!values.TryGetValue("web_config", out var web))
        {
            return null;
        }

        // Refused rather than read as "off": a setting meant to protect the endpoint never silently does nothing.
        if (web.Value.Trim().Length == 0)
        {
            throw Bad("web_config", web.Value, web.Source, "expected the path of a web config file (TLS, basic auth); leave the setting out to serve without them");
        }

        return WebConfigLoader.Load(web.Value, web.Source);
    }

    private static OtlpSettings? ValidateOtlp(Dictionary<string, (string Value, string Source)> values)
    {
        (string protocolText, string protocolSource) = values["otlp_protocol"];
        OtlpProtocol protocol = protocolText.Trim().ToLowerInvariant() switch
        {
            "grpc" => OtlpProtocol.Grpc,
            "http" or "http/protobuf" => OtlpProtocol.Http,
            _ => throw Bad("otlp_protocol", protocolText, protocolSource, "expected 'grpc' or 'http' (http/protobuf)"),
        };
        TimeSpan interval = Duration(values, "otlp_interval", TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
        if (!values.TryGetValue("otlp_endpoint", out var endpoint) || endpoint.Value.Trim().Length == 0)
        {
            return null;
        }

        if (!Uri.TryCreate(endpoint.Value.Trim(), UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw Bad("otlp_endpoint", endpoint.Value, endpoint.Source, "expected an http:// or https:// URL, e.g. http://collector:4317 (grpc) or http://collector:4318 (http)");
        }

        return new OtlpSettings(uri, protocol, interval);
    }

    /// <summary>
    /// The kubelet socket: a path given explicitly must exist; without one, the standard path is
    /// used when it exists (a Kubernetes node), and <c>none</c> turns the lookup off.
    /// </summary>
    private static string? PodResourcesSocket(Dictionary<string, (string Value, string Source)> values)
    {
        if (!values.TryGetValue("pod_resources_socket", out var socket))
        {
            return File.Exists(AgentSettings.DefaultPodResourcesSocket) ? AgentSettings.DefaultPodResourcesSocket : null;
        }

        string path = socket.Value.Trim();
        if (path is "none" or "")
        {
            return null;
        }

        return File.Exists(path) ? path : throw Bad("pod_resources_socket", socket.Value, socket.Source, "no such socket (give 'none' to turn pod names off)");
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
