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
}

/// <summary>A setting has a value that cannot be used; the message names the setting, the value and where it came from.</summary>
internal sealed class SettingsException(string message) : Exception(message);
