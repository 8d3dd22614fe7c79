using Gputel.Collector.Exposition;

namespace Gputel.Agent.Configuration;

/// <summary>The agent's settings after defaults, config file, environment and flags were merged and checked.</summary>
internal sealed partial record AgentSettings(
    ListenAddress Listen,
    TimeSpan MemoryInterval,
    TimeSpan Interval,
    IReadOnlyList<string> Collectors,
    NamingProfile MetricNames,
    string? NvmlLibrary)
{
    public const string DefaultListen = "0.0.0.0:9445";
    public const string DefaultMemoryInterval = "10ms";
    public const string DefaultInterval = "1s";
    public const string DefaultProcRoot = "/proc";
    public const string DefaultPodResourcesSocket = "/var/lib/kubelet/pod-resources/kubelet.sock";

    /// <summary>OTLP export, or null when no endpoint was given (OTLP off).</summary>
    public OtlpSettings? Otlp { get; init; }

    /// <summary>Where the host's <c>/proc</c> is (e.g. <c>/host/proc</c> in a container).</summary>
    public string ProcRoot { get; init; } = DefaultProcRoot;

    /// <summary>The kubelet pod-resources socket to name pods by, or null when there is none to use.</summary>
    public string? PodResourcesSocket { get; init; }
}

/// <summary>A setting has a value that cannot be used; the message names the setting, the value and where it came from.</summary>
internal sealed class SettingsException(string message) : Exception(message);
