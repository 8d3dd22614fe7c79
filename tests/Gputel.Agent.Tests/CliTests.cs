using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gputel.Core.Memory;
using Gputel.Profiler.Memory;
using Gputel.Tests.Support;
using static Gputel.Tests.Support.Scripts;

namespace Gputel.Agent.Tests;

/// <summary>The gputel executable: exit codes, messages and the devices command.</summary>
public sealed class CliTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    [Theory]
    [InlineData(new[] { "agent", "--interval", "5" }, "invalid interval '5'")]
    [InlineData(new[] { "agent", "--metric-names", "nvidia" }, "invalid metric-names 'nvidia'")]
    [InlineData(new[] { "agent", "--no-such-flag" }, "--no-such-flag")]
    [InlineData(new[] { "frobnicate" }, "frobnicate")]
    [InlineData(new[] { "devices", "--nvml-library", "/nonexistent/lib.so" }, "invalid nvml-library '/nonexistent/lib.so'")]
    public void Bad_usage_exits_2_and_names_the_bad_value(string[] args, string message)
    {
        (int exit, string output) = AgentProcess.Run(args);

        Assert.Equal(2, exit);
        Assert.Contains(message, output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_config_file_exits_2()
    {
        string config = _dir.File("agent.yaml", "memory_interval: often\n");
        (int exit, string output) = AgentProcess.Run(["agent", "--config", config]);

        Assert.Equal(2, exit);
        Assert.Contains($"invalid memory-interval 'often' (from config file {config})", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_explains_every_agent_flag()
    {
        (int exit, string output) = AgentProcess.Run(["agent", "--help"]);

        Assert.Equal(0, exit);
        foreach (string flag in new[] { "--listen", "--memory-interval", "--interval", "--collectors", "--metric-names", "--nvml-library", "--config" })
        {
            Assert.Contains(flag, output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Devices_json_reports_what_the_driver_reports()
    {
        Dictionary<string, string> env = FakeDriver.Environment(_dir.Path, Header() + "process_name 4242 python3\n"
            + Gpu(0, extra: $"process compute 4242 {16 * GiB}\n") + Gpu(1, usedBytes: 3 * GiB));

        (int exit, string output) = AgentProcess.Run(["devices", "--json", "--nvml-library", FakeDriver.LibraryPath], env);

        Assert.Equal(0, exit);
        using JsonDocument doc = JsonDocument.Parse(output);
        JsonElement root = doc.RootElement;
        Assert.Equal("560.35.03", root.GetProperty("driver_version").GetString());
        JsonElement[] gpus = root.GetProperty("gpus").EnumerateArray().ToArray();
        Assert.Equal(2, gpus.Length);
        Assert.Equal(10 * GiB, gpus[0].GetProperty("memory").GetProperty("used_bytes").GetUInt64());
        Assert.Equal(3 * GiB, gpus[1].GetProperty("memory").GetProperty("used_bytes").GetUInt64());
        Assert.Equal(350.5, gpus[0].GetProperty("power_watts").GetDouble());
        Assert.Equal(1.98e9, gpus[0].GetProperty("clocks_hertz").GetProperty("sm").GetDouble());
        Assert.Equal(["gpu_idle", "sw_power_cap"], gpus[0].GetProperty("throttle_reasons").EnumerateArray().Select(e => e.GetString()));
        JsonElement process = Assert.Single(gpus[0].GetProperty("processes").EnumerateArray());
        Assert.Equal(4242, process.GetProperty("pid").GetInt32());
        Assert.Equal(16.0 * GiB, process.GetProperty("used_bytes").GetDouble());

        // The fields are the metric catalogue's: one per quantity that names one, nothing else.
        string[] own = ["index", "name", "uuid", "pci_bus_id", "mig_instances", "processes", "errors"];
        var expected = Gputel.Collector.Model.GpuMetrics.All.Where(m => m.DevicesField is not null)
            .Select(m => m.DevicesField!.EndsWith("[]", StringComparison.Ordinal) ? m.DevicesField[..^2] : m.DevicesField)
            .ToHashSet();
        var shown = new HashSet<string>();
        foreach (JsonProperty field in gpus[0].EnumerateObject().Where(f => !own.Contains(f.Name)))
        {
            if (field.Value.ValueKind == JsonValueKind.Object)
            {
                shown.UnionWith(field.Value.EnumerateObject().Select(sub => $"{field.Name}.{sub.Name}"));
            }
            else
            {
                shown.Add(field.Name);
            }
        }

        Assert.Equal(expected.Order(), shown.Order());
    }

    [Fact]
    public void Devices_table_lists_every_gpu()
    {
        Dictionary<string, string> env = FakeDriver.Environment(_dir.Path, Header() + Gpu(0) + Gpu(1, usedBytes: 3 * GiB));

        (int exit, string output) = AgentProcess.Run(["devices", "--nvml-library", FakeDriver.LibraryPath], env);

        Assert.Equal(0, exit);
        Assert.Contains("560.35.03", output, StringComparison.Ordinal);
        Assert.Contains("10240", output, StringComparison.Ordinal);
        Assert.Contains("3072", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Devices_without_a_driver_says_why_and_exits_1()
    {
        string notALibrary = _dir.File("libnvidia-ml.so.1", "not an ELF file");

        (int exit, string output) = AgentProcess.Run(["devices", "--nvml-library", notALibrary]);

        Assert.Equal(1, exit);
        Assert.Contains("could not be loaded", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "finetune", "--model", "qwen9-999b" }, "qwen9-999b")]
    [InlineData(new[] { "finetune", "--method", "prune" }, "invalid method 'prune'")]
    [InlineData(new[] { "finetune", "--dtype", "fp8" }, "invalid dtype 'fp8'")]
    [InlineData(new[] { "finetune", "--steps", "0" }, "invalid steps '0'")]
    [InlineData(new[] { "finetune", "--lora-targets", "," }, "invalid lora-targets '': name at least one of q_proj")]
    [InlineData(new[] { "finetune", "--lora-targets", "" }, "invalid lora-targets ''")]
    [InlineData(new[] { "finetune", "--lora-targets", "q_proj,attn" }, "invalid lora-targets 'q_proj,attn': 'attn' is not one of")]
    [InlineData(new[] { "finetune", "--lora-dropout", "1.5" }, "invalid lora-dropout '1.5'")]
    [InlineData(new[] { "finetune", "--lora-dropout", "-0.1" }, "invalid lora-dropout '-0.1'")]
    [InlineData(new[] { "finetune", "--data", "{data}", "--cutoff-len", "1" }, "invalid cutoff-len '1': must be at least 2")]
    [InlineData(new[] { "finetune", "--cutoff-len", "1" }, "invalid cutoff-len '1': must be at least 2")]
    [InlineData(new[] { "finetune", "--method", "freeze", "--trainable-layers", "99" }, "invalid trainable-layers '99': the model has 2 layers")]
    [InlineData(new[] { "finetune", "--lr", "-1" }, "invalid lr '-1': must be a positive number")]
    [InlineData(new[] { "finetune", "--model", "nosuch" }, "Unknown model shape 'nosuch'; known: tiny,")]
    [InlineData(new[] { "finetune", "--model", "tiny", "--checkpoint", "{data}" }, "--model tiny and --checkpoint both name the model")]
    public void Bad_finetune_settings_exit_2_and_name_the_value(string[] args, string message)
    {
        string data = _dir.File("data.jsonl", "{\"instruction\": \"Say hi\", \"output\": \"hi there\"}\n");
        string run = Path.Combine(_dir.Path, "run");

        (int exit, string output) = AgentProcess.Run([.. args.Select(a => a == "{data}" ? data : a), "--out", run], seconds: 120);

        Assert.True(exit == 2, $"exit {exit}: {output}");
        Assert.Contains(message, output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        // Named as the user's option, not as .NET's parameter, and before the run is announced.
        Assert.DoesNotContain("(Parameter '", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Actual value was", output, StringComparison.Ordinal);
        Assert.DoesNotContain("fine-tuning ", output, StringComparison.Ordinal);
        // Refused before the run record exists: nothing to mistake for a run.
        Assert.False(File.Exists(Path.Combine(run, "run.json")), "run.json was written");
        Assert.False(File.Exists(Path.Combine(run, "steps.jsonl")), "steps.jsonl was written");
    }

    [Theory]
    [InlineData("--checkpoint")]
    // A directory given as --model: its weights are loaded as --checkpoint's are, and it is recorded the same way.
    [InlineData("--model")]
    public void Finetune_records_a_relative_checkpoint_by_full_path_so_report_finds_it_from_anywhere(string option)
    {
        string checkpoint = Path.Combine(_dir.Path, "ckpt");
        TinyCheckpoint.Write(checkpoint);

        (int exit, string output) = AgentProcess.Run(["finetune", option, "ckpt", "--steps", "1", "--out", "run"], seconds: 120, workingDirectory: _dir.Path);

        Assert.True(exit == 0, output);
        string run = Path.Combine(_dir.Path, "run");
        using (JsonDocument info = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "run.json"))))
        {
            Assert.Equal(checkpoint, info.RootElement.GetProperty("model").GetString());
        }

        // From another directory the report still finds the checkpoint's config.json for its estimate.
        string elsewhere = Directory.CreateDirectory(Path.Combine(_dir.Path, "elsewhere")).FullName;
        (exit, output) = AgentProcess.Run(["report", run], workingDirectory: elsewhere);
        Assert.True(exit == 0, output);
        Assert.DoesNotContain("no estimate", output, StringComparison.Ordinal);
        using JsonDocument summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "summary.json")));
        Assert.Equal(JsonValueKind.Object, summary.RootElement.GetProperty("estimate").ValueKind);
    }

    [Fact]
    public void Finetune_runs_the_reference_workload_and_writes_a_run_record()
    {
        // A path longer than a terminal's 80 columns.
        string run = Path.Combine(_dir.Path, "run-" + new string('x', 80));
        (int exit, string output) = AgentProcess.Run(["finetune", "--model", "tiny", "--method", "lora", "--steps", "3", "--out", run], seconds: 120);

        Assert.Equal(0, exit);
        // Output to a pipe (a log) is not wrapped: the path and each step's line stay whole.
        string[] outputLines = output.Split('\n');
        Assert.Contains(outputLines, l => l.TrimEnd().EndsWith("run record: " + run, StringComparison.Ordinal));
        string stepLine = Assert.Single(outputLines, l => l.StartsWith("step", StringComparison.Ordinal) && l.Contains(" 3/3 ", StringComparison.Ordinal));
        // The step's peak, then the categories as they stood at it: model state and activations
        // always, the rest (runtime here: libtorch's set-up) where they hold anything, so the figures
        // shown add up to the peak, to the rounding of each.
        Match progress = Regex.Match(stepLine, @"tokens/s +peak +(?<peak>[\d.]+) MiB \((?<phase>\w+)\):(?<categories>(  [a-z]+ -?[\d.]+)+) MiB$");
        Assert.True(progress.Success, stepLine);
        var shown = progress.Groups["categories"].Value.Split("  ", StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split(' ')).ToDictionary(pair => pair[0], pair => double.Parse(pair[1], CultureInfo.InvariantCulture));
        Assert.Equal(["weights", "grads", "optimizer", "activations"], shown.Keys.Take(4));
        Assert.Contains("runtime", shown.Keys);
        double peakShown = double.Parse(progress.Groups["peak"].Value, CultureInfo.InvariantCulture);
        Assert.InRange(shown.Values.Sum(), peakShown - 0.05 * (shown.Count + 1), peakShown + 0.05 * (shown.Count + 1));
        Assert.Contains("run record written", output, StringComparison.Ordinal);
        Assert.Equal(3 * 4, File.ReadAllLines(Path.Combine(run, "steps.jsonl")).Length);
        Assert.Contains("\"method\":\"lora\"", File.ReadAllText(Path.Combine(run, "run.json")), StringComparison.Ordinal);
        // Without --exact-cpu-peaks the phase peaks are sampled, and the record says so.
        Assert.Contains("\"cpu_peaks\":\"sampled\"", File.ReadAllText(Path.Combine(run, "run.json")), StringComparison.Ordinal);
        // The closing table fits the 80 columns a log gets: every category on a row of its own,
        // unbroken, with a figure for each of the four phases.
        string[] lines = output.Split('\n');
        foreach (string category in MemoryCategories.All.Select(c => c.ToName()))
        {
            string row = Assert.Single(lines, l => l.Contains($"│ {category} ", StringComparison.Ordinal));
            Assert.Equal(4, System.Text.RegularExpressions.Regex.Matches(row, @"\d+\.\d\d").Count);
            Assert.True(row.TrimEnd().Length <= 80, row);
        }
    }

    [Theory]
    [InlineData(true, "finetune")]
    [InlineData(true, "finetune", "--model", "tiny", "--steps", "3")]
    [InlineData(true, "finetune", "--device", "cpu")]
    [InlineData(false, "finetune", "--device", "cuda")]
    [InlineData(false, "finetune", "--device", "cuda:1", "--steps", "3")]
    [InlineData(false, "finetune", "--help")]
    [InlineData(true, "estimate", "--device", "cpu")]
    [InlineData(true, "estimate", "--device=cpu")]
    [InlineData(false, "estimate", "--device", "cpu", "--no-probe")]
    [InlineData(false, "estimate")]
    [InlineData(false, "report", "runs/x")]
    public void Only_commands_that_measure_malloc_restart_with_the_jit_cache_off(bool restarts, params string[] args)
    {
        var root = new System.CommandLine.RootCommand
        {
            Gputel.Agent.Commands.FinetuneCommand.Create(),
            Gputel.Agent.Commands.EstimateCommand.Create(),
            Gputel.Agent.Commands.ReportCommand.Create(),
        };

        Assert.Equal(restarts, Gputel.Agent.Commands.FinetuneRestart.MeasuresTheCpuAllocator(root.Parse(args)));
    }

    [Fact]
    public void The_restart_passes_every_argument_on_byte_for_byte()
    {
        // dotnet, a dll path that is not UTF-8, finetune, an empty --out value.
        byte[] cmdline = [.. "dotnet\0/d/"u8, 0xff, .. "/g.dll\0finetune\0--out\0\0"u8];
        byte[][] args = Gputel.Agent.Commands.FinetuneRestart.Split(cmdline)!;
        Assert.Equal(5, args.Length);
        Assert.Equal("finetune"u8.ToArray(), args[2]);
        Assert.Empty(args[4]);
        Assert.Contains((byte)0xff, args[1]);
        Assert.Null(Gputel.Agent.Commands.FinetuneRestart.Split("dotnet\0fine"u8.ToArray()));
    }

    [Theory]
    [InlineData("INT", 130)]
    [InlineData("TERM", 143)]
    public void Finetune_stopped_by_a_signal_keeps_every_step_and_its_figures_hold_past_the_jit_cache_release(string signal, int code)
    {
        string run = Path.Combine(_dir.Path, "stopped");
        string steps = Path.Combine(run, "steps.jsonl");
        using AgentProcess finetune = AgentProcess.Start(["finetune", "--model", "tiny", "--steps", "100000", "--out", run]);
        finetune.WaitForLine(@"step\s+1/100000", seconds: 120);
        // Past the moment the .NET runtime frees the JIT's cached memory (2-4 s after the JIT last
        // needed it): with the cache on, the allocator then fell 11 MiB below the run's baseline.
        Wait.Until(() => Seconds(File.ReadAllLines(steps)) >= 8, "8 seconds of steps", seconds: 120);
        Interrupt(finetune.Pid, signal);

        Wait.Until(() => finetune.HasExited, "gputel to stop after the step in progress", seconds: 60);
        (int exit, string output) = finetune.Finish();
        int completed = int.Parse(Regex.Match(output, @"stopped after (\d+) of 100000 steps").Groups[1].Value, CultureInfo.InvariantCulture);

        // Interrupted, as a shell reports it; every completed step is in the record, whole.
        Assert.Equal(code, exit);
        using (JsonDocument end = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "end.json"))))
        {
            Assert.True(end.RootElement.GetProperty("cancelled").GetBoolean());
            Assert.Equal(completed, end.RootElement.GetProperty("steps_completed").GetInt32());
        }

        string[] lines = File.ReadAllLines(steps);
        Assert.Equal(completed * 4, lines.Length);
        // gputel restarted itself with the JIT's slab cache off (the test removed the variable) ...
        Assert.Contains("\"jit_slab_cache\":\"off\"", File.ReadAllText(Path.Combine(run, "run.json")), StringComparison.Ordinal);
        // ... so from the third step on, the categories add up to the allocator throughout.
        JsonElement[] settled = [.. lines.Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.GetProperty("step").GetInt32() >= 2)];
        long peak = settled.Max(e => e.GetProperty("peak_bytes").GetInt64());
        JsonElement worst = settled.MaxBy(e => Math.Abs(e.GetProperty("bytes").GetProperty("unattributed").GetInt64()));
        long unattributed = worst.GetProperty("bytes").GetProperty("unattributed").GetInt64();
        // 5 % of the peak, or 1 MiB on a peak this small: a loaded machine's own thread and library
        // buffers come and go by a few hundred KB; the JIT's cache, when it was on, took 11 MiB.
        Assert.True(Math.Abs(unattributed) < Math.Max(peak / 20, 1 << 20), $"step {worst.GetProperty("step")} {worst.GetProperty("phase")}: unattributed {unattributed} of peak {peak}");

        static double Seconds(string[] lines) => lines.Length < 2 ? 0
            : (JsonDocument.Parse(lines[^2]).RootElement.GetProperty("time").GetDateTimeOffset() - JsonDocument.Parse(lines[0]).RootElement.GetProperty("time").GetDateTimeOffset()).TotalSeconds;
    }

    [Fact]
    public void Runs_started_in_the_same_second_get_directories_of_their_own()
    {
        var now = new DateTime(2026, 11, 24, 4, 5, 6, DateTimeKind.Utc);
        string first = Gputel.Agent.Commands.FinetuneCommand.NewRunDirectory(_dir.Path, now);
        Assert.Equal(Path.Combine(_dir.Path, "20261124-040506"), first);
        Directory.CreateDirectory(first);
        string second = Gputel.Agent.Commands.FinetuneCommand.NewRunDirectory(_dir.Path, now);
        Assert.Equal(first + "-2", second);
        Directory.CreateDirectory(second);
        Assert.Equal(first + "-3", Gputel.Agent.Commands.FinetuneCommand.NewRunDirectory(_dir.Path, now));
    }

    [Fact]
    public void A_second_ctrl_c_stops_finetune_at_once_without_a_crash_and_every_written_line_is_whole()
    {
        string run = Path.Combine(_dir.Path, "twice");
        // Steps of about a second, so the second signal lands inside one.
        using AgentProcess finetune = AgentProcess.Start(["finetune", "--model", "tiny", "--steps", "1000", "--batch-size", "16", "--cutoff-len", "2048", "--out", run]);
        finetune.WaitForLine(@"step\s+1/1000", seconds: 120);
        Interrupt(finetune.Pid);
        finetune.WaitForLine("stopping after the step in progress");
        Interrupt(finetune.Pid);
        Wait.Until(() => finetune.HasExited, "gputel to stop", seconds: 60);
        (int exit, string output) = finetune.Finish();

        Assert.Equal(130, exit);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
        Assert.Single(Regex.Matches(output, "stopping after the step in progress"));
        string[] lines = File.ReadAllLines(Path.Combine(run, "steps.jsonl"));
        Assert.NotEmpty(lines);
        Assert.All(lines, l => JsonDocument.Parse(l).Dispose());
    }

    // The shell's own kill: a slim machine may have no kill binary.
    private static void Interrupt(int pid, string signal = "INT")
    {
        using Process kill = Process.Start("sh", ["-c", $"kill -{signal} \"$1\"", "sh", pid.ToString(CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    [Fact]
    public async Task Finetune_serves_live_training_gauges_while_it_runs()
    {
        // Port 0: the system picks one, and the line says which.
        using AgentProcess run = AgentProcess.Start(["finetune", "--model", "tiny", "--steps", "100000", "--out", Path.Combine(_dir.Path, "live"), "--metrics-listen", "127.0.0.1:0"]);
        int port = int.Parse(run.WaitForLine(@"training gauges on http://127\.0\.0\.1:(\d+)/metrics").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.NotEqual(0, port);
        using var http = new HttpClient();
        IReadOnlyList<Sample> samples = [];
        Wait.Until(() => (samples = ExpositionText.Parse(http.GetStringAsync($"http://127.0.0.1:{port}/metrics").GetAwaiter().GetResult()))
            // Observable gauges (memory, loss) reach /metrics when the exporter next polls them, which
            // can be after the counter shows the steps: wait for all of it.
            .Any(s => s.Name == "training_steps_total" && s.Value >= 2)
            && samples.Any(s => s.Name == "training_loss") && samples.Any(s => s.Name == "training_step_seconds"), "two steps, the loss and the step time on /metrics", seconds: 60);

        Sample weights = samples.Single("training_memory_bytes", ("category", "weights"), ("phase", "forward"));
        Assert.True(weights.Value > 0);
        Assert.Equal(run.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), weights.Labels["pid"]);
        Assert.Equal(9, samples.Count(s => s.Name == "training_memory_bytes" && s.Labels["phase"] == "backward"));
        Assert.Contains(samples, s => s.Name == "training_loss");
        Assert.Contains(samples, s => s.Name == "training_step_seconds");
        await Task.CompletedTask;
    }

    public void Dispose() => _dir.Dispose();
}
