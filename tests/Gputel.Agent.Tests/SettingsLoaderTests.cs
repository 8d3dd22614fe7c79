using Gputel.Agent.Configuration;
using Gputel.Collector.Exposition;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

public sealed partial class SettingsLoaderTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly Dictionary<string, string?> _flags = [];
    private readonly Dictionary<string, string> _env = [];

    private AgentSettings Load(string? config = null) =>
        SettingsLoader.Load(config, _flags, name => _env.TryGetValue(name, out string? v) ? v : null);

    private string Error(string? config = null) => Assert.Throws<SettingsException>(() => Load(config)).Message;

    [Fact]
    public void Defaults_are_all_collectors_10ms_memory_1s_others_default_names()
    {
        AgentSettings s = Load();

        Assert.Equal("0.0.0.0:9445", s.Listen.ToString());
        Assert.Equal(TimeSpan.FromMilliseconds(10), s.MemoryInterval);
        Assert.Equal(TimeSpan.FromSeconds(1), s.Interval);
        Assert.Equal(Collector.Collectors.CollectorCatalog.Names, s.Collectors);
        Assert.Equal(NamingProfile.Default, s.MetricNames);
        Assert.Null(s.NvmlLibrary);
    }

    [Fact]
    public void Flags_override_environment_which_overrides_the_config_file()
    {
        string config = _dir.File("agent.yaml", "listen: 127.0.0.1:1000\ninterval: 5s\nmemory_interval: 20ms\nmetric_names: dcgm\ncollectors: [memory, power]\n");
        _env["GPUTEL_INTERVAL"] = "2s";
        _env["GPUTEL_LISTEN"] = "127.0.0.1:2000";
        _flags["listen"] = "[::1]:3000";

        AgentSettings s = Load(config);

        Assert.Equal("[::1]:3000", s.Listen.ToString());
        Assert.Equal(TimeSpan.FromSeconds(2), s.Interval);
        Assert.Equal(TimeSpan.FromMilliseconds(20), s.MemoryInterval);
        Assert.Equal(NamingProfile.Dcgm, s.MetricNames);
        Assert.Equal(["memory", "power"], s.Collectors);
    }

    [Fact]
    public void The_config_file_can_come_from_the_environment()
    {
        _env["GPUTEL_CONFIG"] = _dir.File("agent.yaml", "collectors: -xid,-ecc\n");

        Assert.DoesNotContain("xid", Load().Collectors);
    }

    [Theory]
    [InlineData("memory_interval", "10", "invalid memory-interval '10' (from flag --memory-interval): expected a duration with a unit")]
    [InlineData("memory_interval", "0ms", "invalid memory-interval '0ms'")]
    [InlineData("memory_interval", "20s", "invalid memory-interval '20s' (from flag --memory-interval): must be between 1ms and 10s")]
    [InlineData("interval", "fast", "invalid interval 'fast'")]
    [InlineData("listen", "9445", "invalid listen '9445' (from flag --listen): expected HOST:PORT")]
    [InlineData("listen", "example.org:80", "invalid listen 'example.org:80'")]
    [InlineData("listen", "127.0.0.1:70000", "invalid listen '127.0.0.1:70000'")]
    [InlineData("collectors", "memory,-xid", "mixes names and exclusions")]
    [InlineData("collectors", "memory,dcgm", "unknown collector 'dcgm'")]
    [InlineData("metric_names", "prometheus", "invalid metric-names 'prometheus' (from flag --metric-names): expected 'default' or 'dcgm'")]
    [InlineData("nvml_library", "/nonexistent/libnvidia-ml.so.1", "invalid nvml-library '/nonexistent/libnvidia-ml.so.1' (from flag --nvml-library): no such file")]
    [InlineData("web_config", "", "invalid web-config '' (from flag --web-config): expected the path of a web config file")]
    [InlineData("web_config", " ", "invalid web-config ' ' (from flag --web-config): expected the path of a web config file")]
    public void A_bad_flag_is_named_with_its_value_and_source(string key, string value, string message)
    {
        _flags[key] = value;
        Assert.Contains(message, Error(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_environment_value_names_the_variable()
    {
        _env["GPUTEL_MEMORY_INTERVAL"] = "soon";
        Assert.Contains("invalid memory-interval 'soon' (from environment variable GPUTEL_MEMORY_INTERVAL)", Error(), StringComparison.Ordinal);
    }

    [Fact]
    public void Memory_interval_longer_than_interval_is_refused()
    {
        _flags["memory_interval"] = "2s";
        Assert.Contains("must not be longer than interval (1s)", Error(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("listen: [unclosed\n", "is not valid YAML (line ")]
    [InlineData("lisen: 127.0.0.1:1\n", "line 1: unknown setting 'lisen'")]
    [InlineData("- a\n- b\n", "must be a mapping of settings")]
    [InlineData("interval:\n  nested: 1\n", "'interval' must be a single value")]
    [InlineData("interval: 3\n", "invalid interval '3' (from config file")]
    [InlineData("web_config:\n", "invalid web-config '' (from config file")]
    public void A_bad_config_file_is_explained(string yaml, string message)
    {
        Assert.Contains(message, Error(_dir.File("bad.yaml", yaml)), StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_config_file_is_explained()
    {
        Assert.Contains("cannot read config file", Error(Path.Combine(_dir.Path, "missing.yaml")), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("10ms", 0.010)]
    [InlineData("1.5s", 1.5)]
    [InlineData("2m", 120)]
    [InlineData("500us", 0.0005)]
    public void Durations_take_prometheus_style_units(string text, double seconds)
    {
        Assert.True(DurationParser.TryParse(text, out TimeSpan d));
        Assert.Equal(seconds, d.TotalSeconds, 9);
    }

    public void Dispose() => _dir.Dispose();
}
