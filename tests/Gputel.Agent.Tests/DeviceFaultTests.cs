using System.Net;
using System.Runtime.InteropServices;
using Gputel.Tests.Support;
using static Gputel.Tests.Support.Scripts;

namespace Gputel.Agent.Tests;

/// <summary>
/// Driver and device faults, scripted in the fake driver, seen end to end: the real gputel agent
/// runs as a child process and is scraped over HTTP. Whatever the driver does, the agent keeps
/// serving and never exits.
/// </summary>
public sealed class DeviceFaultTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    [Fact]
    public async Task Without_the_driver_library_the_agent_serves_host_and_self_metrics()
    {
        // The default library name, as on a machine without an NVIDIA driver.
        bool realDriver = NativeLibrary.TryLoad("libnvidia-ml.so.1", out IntPtr handle);
        if (realDriver)
        {
            NativeLibrary.Free(handle);
        }

        Assert.SkipWhen(realDriver, "this machine has an NVIDIA driver (libnvidia-ml.so.1 loads), so a missing one cannot be seen");
        using AgentProcess agent = AgentProcess.Start(["agent", "--listen", "127.0.0.1:0", "--interval", "100ms"]);
        Uri uri = agent.WaitUntilListening();

        IReadOnlyList<Sample> samples = await ScrapeUntilAsync(uri, s => s.Any(x => x.Name == "host_memory_total_bytes"), "host metrics");

        Assert.Contains("no NVIDIA driver found (libnvidia-ml.so.1 could not be loaded)", agent.Output, StringComparison.Ordinal);
        Assert.Equal(0, samples.Single("telemetry_nvml_available").Value);
        Assert.Equal(0, samples.Single("telemetry_gpus").Value);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync(new Uri(uri, "health"))).StatusCode);
        Assert.False(agent.HasExited);
    }

    [Fact]
    public void A_driver_library_path_that_does_not_exist_is_a_usage_error()
    {
        (int exit, string output) = AgentProcess.Run(["agent", "--listen", "127.0.0.1:0", "--nvml-library", Path.Combine(_dir.Path, "missing", "libnvidia-ml.so.1")]);

        Assert.Equal(2, exit);
        Assert.Contains("invalid nvml-library", output, StringComparison.Ordinal);
        Assert.Contains("no such file", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task When_nvml_init_fails_the_agent_says_why_and_keeps_serving()
    {
        // 9: NVML_ERROR_DRIVER_NOT_LOADED, as when the kernel module is missing.
        using AgentProcess agent = StartAgent("init_error 9\n" + Header() + Gpu(0));
        Uri uri = agent.WaitUntilListening();

        IReadOnlyList<Sample> samples = await ScrapeUntilAsync(uri, s => s.Any(x => x.Name == "host_memory_total_bytes"), "host metrics");

        Assert.Contains("NVML initialisation failed", agent.Output, StringComparison.Ordinal);
        Assert.Contains("serving host and self metrics only", agent.Output, StringComparison.Ordinal);
        Assert.Equal(0, samples.Single("telemetry_nvml_available").Value);
        Assert.DoesNotContain(samples, s => s.Name.StartsWith("gpu_", StringComparison.Ordinal));
        Assert.False(agent.HasExited);
    }

    [Fact]
    public async Task A_gpu_lost_mid_run_goes_down_and_comes_back_without_a_restart()
    {
        // GPU 1 is lost exactly while this file exists.
        string lostFlag = Path.Combine(_dir.Path, "gpu1-lost");
        using AgentProcess agent = StartAgent(Header() + Gpu(0) + Gpu(1, usedBytes: 3 * GiB, extra: $"lost_while {lostFlag}\n"));
        Uri uri = agent.WaitUntilListening();
        int pid = agent.Pid;

        await ScrapeUntilAsync(uri, s => Up(s, "1") == 1 && Has(s, "gpu_memory_used_bytes", "1"), "GPU 1 up with memory");

        File.WriteAllText(lostFlag, string.Empty);
        IReadOnlyList<Sample> down = await ScrapeUntilAsync(uri, s => Up(s, "1") == 0 && !Has(s, "gpu_memory_used_bytes", "1"), "GPU 1 down");
        // The other GPU is sampled and served as before; no stale values of the lost one are served.
        Assert.Equal(1, Up(down, "0"));
        Assert.True(Has(down, "gpu_memory_used_bytes", "0"));
        Assert.DoesNotContain(down, s => s.Name == "gpu_temperature_celsius" && s.Labels["gpu"] == "1");

        File.Delete(lostFlag);
        IReadOnlyList<Sample> back = await ScrapeUntilAsync(uri, s => Up(s, "1") == 1 && Has(s, "gpu_memory_used_bytes", "1") && Has(s, "gpu_temperature_celsius", "1"), "GPU 1 back");
        Assert.Equal(3.0 * GiB, back.Single("gpu_memory_used_bytes", ("gpu", "1")).Value);

        Assert.False(agent.HasExited);
        Assert.Equal(pid, agent.Pid);
        agent.WaitForLine(@"GPU 1 \(GPU-[0-9-]+\) is lost");
        agent.WaitForLine(@"GPU 1 \(GPU-[0-9-]+\) answers again");
    }

    [Fact]
    public async Task Not_supported_fields_are_left_out_and_the_rest_is_served()
    {
        // 3: NVML_ERROR_NOT_SUPPORTED, as from a GPU without that sensor.
        using AgentProcess agent = StartAgent(Header()
            + Gpu(0, extra: "fail nvmlDeviceGetTemperature 3\nfail nvmlDeviceGetPowerUsage 3\nfail nvmlDeviceGetFieldValues 3\n") + Gpu(1));
        Uri uri = agent.WaitUntilListening();

        IReadOnlyList<Sample> samples = await ScrapeUntilAsync(uri, s => Has(s, "gpu_temperature_celsius", "1") && Has(s, "gpu_power_limit_watts", "0"), "both GPUs sampled");

        Assert.False(Has(samples, "gpu_temperature_celsius", "0"));
        Assert.False(Has(samples, "gpu_power_watts", "0"));
        Assert.False(Has(samples, "gpu_memory_temperature_celsius", "0"));
        Assert.Equal(350.5, samples.Single("gpu_power_watts", ("gpu", "1")).Value);
        Assert.Equal(700, samples.Single("gpu_power_limit_watts", ("gpu", "0")).Value);
        Assert.Equal(1.98e9, samples.Single("gpu_clock_hertz", ("gpu", "0"), ("clock", "sm")).Value);
        Assert.Equal(10.0 * GiB, samples.Single("gpu_memory_used_bytes", ("gpu", "0")).Value);
        // "Nothing to read here" is not a failure.
        Assert.Equal(1, samples.Single("telemetry_collector_success", ("collector", "temperature")).Value);
        Assert.Equal(1, samples.Single("telemetry_collector_success", ("collector", "power")).Value);
        Assert.Equal(1, Up(samples, "0"));
    }

    [Fact]
    public async Task Intermittent_errors_fail_single_runs_and_sampling_goes_on()
    {
        // Every second power reading of GPU 0 fails with NVML_ERROR_UNKNOWN (999).
        using AgentProcess agent = StartAgent(Header() + Gpu(0, extra: "fail_every nvmlDeviceGetPowerUsage 999 2\n") + Gpu(1));
        Uri uri = agent.WaitUntilListening();

        // Scrapes land after a failed run or after a good one; both must be seen, served correctly.
        bool sawFailure = false, sawSuccess = false;
        await ScrapeUntilAsync(uri, s =>
        {
            // On a loaded machine the first runs of each collector and GPU come a moment apart.
            if (!Has(s, "gpu_temperature_celsius", "0") || !Has(s, "gpu_temperature_celsius", "1") || !Has(s, "gpu_memory_used_bytes", "0")
                || !Has(s, "gpu_power_watts", "1")
                || !s.Any(x => x.Name == "telemetry_collector_success" && x.Labels.GetValueOrDefault("collector") is "power")
                || !s.Any(x => x.Name == "telemetry_collector_success" && x.Labels.GetValueOrDefault("collector") is "temperature"))
            {
                return false; // not sampled yet
            }

            double power = s.Single("telemetry_collector_success", ("collector", "power")).Value;
            if (power == 0)
            {
                // The failed run serves no value for GPU 0 rather than a stale one.
                Assert.False(Has(s, "gpu_power_watts", "0"));
                sawFailure = true;
            }
            else
            {
                Assert.Equal(350.5, s.Single("gpu_power_watts", ("gpu", "0")).Value);
                sawSuccess = true;
            }

            Assert.Equal(350.5, s.Single("gpu_power_watts", ("gpu", "1")).Value);
            Assert.Equal(1, s.Single("telemetry_collector_success", ("collector", "temperature")).Value);
            Assert.Equal(1, Up(s, "0"));
            return sawFailure && sawSuccess;
        }, "a scrape after a failed power run and one after a good run");

        Assert.False(agent.HasExited);
    }

    [Fact]
    public async Task A_hung_call_marks_its_collector_failed_while_scrapes_answer_and_other_gpus_are_sampled()
    {
        // Every temperature call on GPU 0 hangs for ten minutes; GPU 0's slow thread is stuck in the first.
        using AgentProcess agent = StartAgent(Header() + Gpu(0, extra: "hang nvmlDeviceGetTemperature 600000\n") + Gpu(1));
        Uri uri = agent.WaitUntilListening();

        // The agent calls a collector stuck once it has not finished a run for 5 s (3 intervals, at least 5 s).
        IReadOnlyList<Sample> stuck = await ScrapeUntilAsync(uri, s => s.Any(x => x.Name == "telemetry_collector_success"
            && x.Labels["collector"] == "temperature" && x.Value == 0), "the temperature collector to be marked failed", seconds: 60);

        // GPU 1's thread and the memory thread of every GPU go on.
        Assert.Equal(1, stuck.Single("telemetry_collector_success", ("collector", "memory")).Value);
        Assert.Equal(65, stuck.Single("gpu_temperature_celsius", ("gpu", "1")).Value);
        Assert.True(Has(stuck, "gpu_memory_used_bytes", "0"));
        double energy = stuck.Single("gpu_energy_joules_total", ("gpu", "1")).Value;
        await ScrapeUntilAsync(uri, s => s.Single("gpu_energy_joules_total", ("gpu", "1")).Value > energy, "GPU 1 to be sampled again");
        Assert.Equal(1, Up(stuck, "0"));
        Assert.False(agent.HasExited);
    }

    private AgentProcess StartAgent(string script) =>
        AgentProcess.Start(
            ["agent", "--listen", "127.0.0.1:0", "--interval", "100ms", "--nvml-library", FakeDriver.LibraryPath],
            FakeDriver.Environment(_dir.Path, script));

    /// <summary>Scrapes /metrics (each scrape must answer 200) until <paramref name="done"/> holds; returns that scrape.</summary>
    private async Task<IReadOnlyList<Sample>> ScrapeUntilAsync(Uri agent, Func<IReadOnlyList<Sample>, bool> done, string what, int seconds = 30)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            using HttpResponseMessage response = await _http.GetAsync(new Uri(agent, "metrics"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            IReadOnlyList<Sample> samples = ExpositionText.Parse(await response.Content.ReadAsStringAsync());
            if (done(samples))
            {
                return samples;
            }

            Assert.True(DateTime.UtcNow < deadline, $"timed out after {seconds} s waiting for {what}");
            await Task.Delay(50);
        }
    }

    private static double? Up(IReadOnlyList<Sample> samples, string gpu) =>
        samples.FirstOrDefault(s => s.Name == "gpu_up" && s.Labels["gpu"] == gpu)?.Value;

    private static bool Has(IReadOnlyList<Sample> samples, string name, string gpu) =>
        samples.Any(s => s.Name == name && s.Labels.TryGetValue("gpu", out string? g) && g == gpu);

    public void Dispose()
    {
        _http.Dispose();
        _dir.Dispose();
    }
}
