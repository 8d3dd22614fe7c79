using System.Diagnostics;
using System.Runtime.InteropServices;
using Gputel.Tests.Support;
using static Gputel.Tests.Support.Scripts;

namespace Gputel.Agent.Tests;

/// <summary>
/// The image of deploy/container, built by deploy/container/build-local.sh (no registry: a base made
/// from this machine's libraries and the self-contained agent-only publish that test.sh makes) with
/// buildah, then run with podman as a node runs it: the default command, its port published, once
/// with the fake NVML driver mounted where the NVIDIA container runtime puts libnvidia-ml.so.1 and
/// once with no driver at all. Everything lives in a private vfs store under a temporary directory,
/// so nothing touches the machine's own images. Machines that cannot build or run containers skip,
/// with the engine's own words.
/// </summary>
public sealed class ContainerImageTests : IDisposable
{
    private static readonly string Rid = RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";
    private static readonly string Publish = Repo.Path("agent", "bin", "agent-only", "Release", "net10.0", Rid, "publish");
    private readonly TempDirectory _dir = new();
    private readonly List<string> _containers = [];
    private readonly string[] _storage;
    private readonly string[] _podman;

    public ContainerImageTests()
    {
        _storage = ["--root", Path.Combine(_dir.Path, "storage"), "--runroot", Path.Combine(_dir.Path, "run"), "--storage-driver", "vfs"];
        // cgroupfs and a file for events: no systemd or journald needed. runc where installed: crun
        // refuses hosts that mount cgroup v1 and v2 side by side ("hybrid"), which runc handles.
        _podman = [.. _storage, "--tmpdir", Path.Combine(_dir.Path, "libpod"), "--cgroup-manager", "cgroupfs", "--events-backend", "file",
            .. File.Exists("/usr/bin/runc") || File.Exists("/usr/sbin/runc") ? new[] { "--runtime", "runc" } : []];
    }

    [Fact]
    public void The_image_builds_without_a_registry_and_serves_GPU_host_and_self_metrics_as_its_non_root_user()
    {
        RequireMachineRunsContainers();
        Assert.SkipUnless(File.Exists(Path.Combine(Publish, "gputel")),
            $"the self-contained agent-only publish is not there ({Publish}); test.sh makes it: dotnet publish agent -c Release -r {Rid} --self-contained -p:AgentOnly=true -p:PublishSingleFile=true -p:DebugType=none");

        (int exit, string output) = Run(Repo.Path("deploy", "container", "build-local.sh"), [Publish, "localhost/gputel-test:local"],
            new() { ["BUILDER"] = "buildah " + string.Join(' ', _storage) + " build" }, seconds: 300);
        Assert.True(exit == 0, output);
        (_, string user) = Podman("image", "inspect", "--format", "{{.Config.User}}", "localhost/gputel-test:local");
        Assert.Equal("1654:1654", user.Trim());

        // With the driver: the agent finds libnvidia-ml.so.1 where the loader looks, as on a GPU node.
        string script = _dir.File("fake-nvml.txt", Gpu(0, usedBytes: 3 * GiB));
        (IReadOnlyList<Sample> withDriver, int pid) = StartAndScrape(
            "-v", $"{FakeDriver.LibraryPath}:/usr/lib/{(Rid == "linux-x64" ? "x86_64" : "aarch64")}-linux-gnu/libnvidia-ml.so.1:ro",
            "-v", $"{script}:/etc/fake-nvml.txt:ro", "-e", "FAKE_NVML_SCRIPT=/etc/fake-nvml.txt");

        Assert.Equal(1, withDriver.Single("telemetry_nvml_available").Value);
        Assert.Equal(1, withDriver.Single("telemetry_gpus").Value);
        Assert.Equal(3.0 * GiB, withDriver.Single("gpu_memory_used_bytes", ("uuid", "GPU-00000000-0000-0000-0000-000000000000")).Value);
        Assert.Equal(80.0 * GiB, withDriver.Single("gpu_memory_total_bytes", ("gpu", "0")).Value);
        Assert.True(withDriver.Single("host_memory_total_bytes").Value > 0);
        Assert.True(withDriver.Single("process_resident_memory_bytes").Value > 0);
        // The process itself, seen from the host: the image's numeric user, not root.
        string status = File.ReadAllText($"/proc/{pid}/status");
        Assert.Matches(@"(?m)^Uid:\s+1654\s+1654\s+1654\s+1654$", status);

        // Without a driver (a node before its driver is installed): host and self metrics only.
        (IReadOnlyList<Sample> noDriver, _) = StartAndScrape();
        Assert.Equal(0, noDriver.Single("telemetry_nvml_available").Value);
        Assert.Equal(0, noDriver.Single("telemetry_gpus").Value);
        Assert.DoesNotContain(noDriver, s => s.Name.StartsWith("gpu_", StringComparison.Ordinal));
        Assert.True(noDriver.Single("host_memory_total_bytes").Value > 0);
        Assert.True(noDriver.Single("process_cpu_seconds_total").Value > 0);
        Assert.Equal(1, noDriver.Single("telemetry_collector_success", ("collector", "host")).Value);

        // `gputel report` works in the image too: its chart needs SkiaSharp's native library and fonts.
        string run = Directory.CreateDirectory(Path.Combine(_dir.Path, "run")).FullName;
        File.WriteAllText(Path.Combine(run, "run.json"),
            """{"run_id":"in-image","model":"tiny","method":"lora","dtype":"fp32","device":"cuda:0","start_time":"2026-01-01T00:00:00Z","settings":{},"versions":{}}""");
        File.WriteAllText(Path.Combine(run, "steps.jsonl"),
            """{"time":"2026-01-01T00:00:01Z","step":0,"phase":"forward","seconds":0.5,"bytes":{"weights":1048576,"activations":65536},"allocator_bytes":1114112,"peak_bytes":1200000,"loss":null}""" + "\n");
        if (!OperatingSystem.IsWindows())
        {
            // 0777: the image's user (1654) writes the report beside the record.
            File.SetUnixFileMode(run, (UnixFileMode)0x1FF);
        }

        (exit, output) = Podman([.. RunOptions(LoopbackPorts.Free()), "--rm", "-v", $"{run}:/run-record", "localhost/gputel-test:local", "report", "/run-record"]);
        Assert.True(exit == 0, output);
        Assert.True(new FileInfo(Path.Combine(run, "report.png")).Length > 0, output);
        using var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(run, "summary.json")));
        Assert.Equal("in-image", summary.RootElement.GetProperty("run_id").GetString());
    }

    /// <summary>
    /// Builds and runs a one-file image (the host's dynamic loader, which runs alone) with the same
    /// store, runtime and port publishing the real run uses; skips with the engine's error where
    /// that fails, so that a failure after this point is the image's, not the machine's.
    /// </summary>
    private void RequireMachineRunsContainers()
    {
        foreach (string tool in new[] { "buildah", "podman" })
        {
            Assert.SkipUnless(File.Exists($"/usr/bin/{tool}"), $"{tool} is not installed (Debian packages buildah podman runc; setup.sh installs them)");
        }

        string? loader = new[] { "/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1" }.FirstOrDefault(File.Exists);
        Assert.SkipWhen(loader is null, "no glibc dynamic loader on this machine to make the probe image from");
        string context = Directory.CreateDirectory(Path.Combine(_dir.Path, "probe")).FullName;
        File.Copy(loader!, Path.Combine(context, "ld.so"));
        File.WriteAllText(Path.Combine(context, "Containerfile"), "FROM scratch\nCOPY ld.so /ld.so\nENTRYPOINT [\"/ld.so\", \"--version\"]\n");

        (int exit, string output) = Run("/usr/bin/buildah", [.. _storage, "build", "-f", Path.Combine(context, "Containerfile"), "-t", "localhost/probe", context]);
        Assert.SkipWhen(exit != 0, $"buildah cannot build an image on this machine: {LastLine(output)}");
        (exit, output) = Podman([.. RunOptions(LoopbackPorts.Free()), "--rm", "localhost/probe"]);
        Assert.SkipWhen(exit != 0, $"podman cannot run a container on this machine: {LastLine(output)}");
    }

    /// <summary>Starts the image with its own entrypoint and command, waits for /metrics and parses it.</summary>
    private (IReadOnlyList<Sample> Samples, int Pid) StartAndScrape(params string[] options)
    {
        int port = LoopbackPorts.Free();
        (int exit, string output) = Podman([.. RunOptions(port), "-d", .. options, "localhost/gputel-test:local"]);
        Assert.True(exit == 0, output);
        // The container's id is the one line of stdout; stderr may carry the engine's warnings.
        string id = System.Text.RegularExpressions.Regex.Match(output, "(?m)^[0-9a-f]{64}$").Value;
        Assert.True(id.Length > 0, output);
        _containers.Add(id);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        string? body = null;
        Wait.Until(() =>
        {
            try
            {
                body = http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics")).Result;
                return body.Contains("host_memory_total_bytes", StringComparison.Ordinal);
            }
            catch (AggregateException)
            {
                (_, string state) = Podman("inspect", "--format", "{{.State.Status}}", id);
                Assert.True(state.Trim() == "running", $"the container is {state.Trim()}: {Podman("logs", id).Output}");
                return false;
            }
        }, "/metrics from the container", seconds: 60);

        (_, string pid) = Podman("inspect", "--format", "{{.State.Pid}}", id);
        return (ExpositionText.Parse(body!), int.Parse(pid.Trim(), System.Globalization.CultureInfo.InvariantCulture));
    }

    // podman's default raises nofile and nproc to 1048576, which root without CAP_SYS_RESOURCE (a
    // sandboxed build machine) may not set; the agent needs far fewer.
    private string[] RunOptions(int port) =>
        ["run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "-p", $"127.0.0.1:{port}:9445"];

    private (int Exit, string Output) Podman(params string[] args) => Run("/usr/bin/podman", [.. _podman, .. args]);

    private static string LastLine(string output) => output.Trim().Split('\n')[^1];

    private static (int Exit, string Output) Run(string program, string[] args, Dictionary<string, string>? environment = null, int seconds = 120)
    {
        var psi = new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach ((string key, string value) in environment ?? [])
        {
            psi.Environment[key] = value;
        }

        using Process process = Process.Start(psi)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(seconds)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{program} {string.Join(' ', args)} did not finish within {seconds} s");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    public void Dispose()
    {
        // Containers first: their run directories hold mounts that keep the store from being removed.
        foreach (string id in _containers)
        {
            Podman("rm", "-f", "-t", "0", id);
        }

        _dir.Dispose();
    }
}
