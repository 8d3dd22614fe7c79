using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary>
/// The files in deploy/ checked by the tools that will read them: the Kubernetes objects against the
/// Kubernetes OpenAPI schema and the prometheus-operator CRD schema (offline, tests/k8s-schema),
/// the Prometheus configuration and rules by promtool, the systemd unit by systemd-analyze.
/// </summary>
public sealed class DeployTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private static IEnumerable<(string Source, JsonObject Object)> KubernetesObjects =>
        from path in Directory.GetFiles(Repo.Path("deploy", "kubernetes"), "*.yaml").Order(StringComparer.Ordinal)
        from doc in YamlDocuments.Load(path)
        select (Path.GetRelativePath(Repo.Root, path), (JsonObject)doc!);

    [Fact]
    public void Every_YAML_file_parses_and_every_Kubernetes_object_names_its_kind()
    {
        string[] files = Directory.GetFiles(Repo.Path("deploy"), "*.y*ml", SearchOption.AllDirectories);
        Assert.True(files.Length >= 6, string.Join(", ", files));
        Assert.All(files, f => Assert.NotEmpty(YamlDocuments.Load(f)));
        Assert.All(KubernetesObjects, o =>
        {
            Assert.False(string.IsNullOrEmpty((string?)o.Object["apiVersion"]), o.Source);
            Assert.False(string.IsNullOrEmpty((string?)o.Object["kind"]), o.Source);
            Assert.False(string.IsNullOrEmpty((string?)o.Object["metadata"]?["name"]), o.Source);
        });
    }

    [Fact]
    public void Kubernetes_objects_match_the_Kubernetes_and_prometheus_operator_schemas()
    {
        var items = new JsonArray(KubernetesObjects.Select(o => (JsonNode)new JsonObject { ["source"] = o.Source, ["object"] = o.Object.DeepClone() }).ToArray());
        Assert.Contains(KubernetesObjects, o => (string?)o.Object["kind"] == "ServiceMonitor");

        (int exit, string output) = ValidateSchemas(items);

        Assert.True(exit == 0, output);
        Assert.Contains($"checked {items.Count} objects, 0 problems", output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_schema_check_rejects_a_broken_DaemonSet_and_ServiceMonitor()
    {
        JsonObject daemonSet = KubernetesObjects.Single(o => (string?)o.Object["kind"] == "DaemonSet").Object.DeepClone().AsObject();
        daemonSet["spec"]!["template"]!["spec"]!["containers"]![0]!["ports"]![0]!["containerPort"] = "9445";
        daemonSet["spec"]!.AsObject().Remove("selector");
        JsonObject monitor = KubernetesObjects.Single(o => (string?)o.Object["kind"] == "ServiceMonitor").Object.DeepClone().AsObject();
        monitor["spec"]!["endpoints"]![0]!["interval"] = "15 seconds";

        (int exit, string output) = ValidateSchemas(new JsonArray(
            new JsonObject { ["source"] = "broken", ["object"] = daemonSet },
            new JsonObject { ["source"] = "broken", ["object"] = monitor }));

        Assert.Equal(1, exit);
        Assert.Contains("/spec must have required property selector", output, StringComparison.Ordinal);
        Assert.Contains("containerPort must be integer", output, StringComparison.Ordinal);
        Assert.Contains("/spec/endpoints/0/interval must match pattern", output, StringComparison.Ordinal);
    }

    [Fact]
    public void DaemonSet_sees_every_GPU_and_its_processes_with_least_privilege()
    {
        JsonObject daemonSet = KubernetesObjects.Single(o => (string?)o.Object["kind"] == "DaemonSet").Object;
        JsonNode pod = daemonSet["spec"]!["template"]!["spec"]!;
        JsonNode agent = pod["containers"]!.AsArray().Single()!;

        Assert.True((bool)pod["hostPID"]!);
        Assert.Equal("nvidia", (string?)pod["runtimeClassName"]);
        Assert.False((bool)pod["automountServiceAccountToken"]!);
        Assert.True((bool)pod["securityContext"]!["runAsNonRoot"]!);
        Assert.NotEqual(0, (long)pod["securityContext"]!["runAsUser"]!);
        Assert.Equal("RuntimeDefault", (string?)pod["securityContext"]!["seccompProfile"]!["type"]);
        Assert.True((bool)agent["securityContext"]!["readOnlyRootFilesystem"]!);
        Assert.False((bool)agent["securityContext"]!["allowPrivilegeEscalation"]!);
        Assert.Equal(["ALL"], agent["securityContext"]!["capabilities"]!["drop"]!.AsArray().Select(c => (string)c!));
        Assert.Null(agent["securityContext"]!["capabilities"]!["add"]);
        Assert.Contains(agent["env"]!.AsArray(), e => (string?)e!["name"] == "NVIDIA_VISIBLE_DEVICES" && (string?)e["value"] == "all");
        // The kubelet's pod-resources socket, read-only, where the agent looks for it by default.
        JsonNode podResources = agent["volumeMounts"]!.AsArray().Single(m => (string?)m!["name"] == "pod-resources")!;
        Assert.Equal(Path.GetDirectoryName(Gputel.Agent.Configuration.AgentSettings.DefaultPodResourcesSocket), (string?)podResources["mountPath"]);
        Assert.True((bool)podResources["readOnly"]!);
        Assert.Equal((string?)podResources["mountPath"], (string?)pod["volumes"]!.AsArray().Single(v => (string?)v!["name"] == "pod-resources")!["hostPath"]!["path"]);
        Assert.Equal("/health", (string?)agent["livenessProbe"]!["httpGet"]!["path"]);
        foreach (string kind in new[] { "requests", "limits" })
        {
            Assert.NotNull(agent["resources"]![kind]!["cpu"]);
            Assert.NotNull(agent["resources"]![kind]!["memory"]);
        }

        // The Service selects these pods and the ServiceMonitor scrapes the port they name.
        string port = (string)agent["ports"]![0]!["name"]!;
        JsonObject service = KubernetesObjects.Single(o => (string?)o.Object["kind"] == "Service").Object;
        JsonObject monitor = KubernetesObjects.Single(o => (string?)o.Object["kind"] == "ServiceMonitor").Object;
        JsonObject podLabels = daemonSet["spec"]!["template"]!["metadata"]!["labels"]!.AsObject();
        Assert.All(service["spec"]!["selector"]!.AsObject(), l => Assert.Equal((string?)l.Value, (string?)podLabels[l.Key]));
        Assert.All(monitor["spec"]!["selector"]!["matchLabels"]!.AsObject(), l => Assert.Equal((string?)l.Value, (string?)service["metadata"]!["labels"]![l.Key]));
        Assert.Contains(service["spec"]!["ports"]!.AsArray(), p => (string?)p!["name"] == port);
        Assert.Equal(port, (string?)monitor["spec"]!["endpoints"]![0]!["port"]);
        Assert.Contains((string?)daemonSet["metadata"]!["namespace"], monitor["spec"]!["namespaceSelector"]!["matchNames"]!.AsArray().Select(n => (string?)n));
    }

    [Fact]
    public void Prometheus_configuration_and_recording_rules_pass_promtool()
    {
        string promtool = Tool("promtool", "the Debian package 'prometheus'");
        string config = File.ReadAllText(Repo.Path("deploy", "prometheus", "prometheus.yml"));
        // Debian's Prometheus is built without Kubernetes discovery; everything else is checked on a copy
        // whose pod discovery is a static target (the relabelling rules stay as they are).
        string withoutPodDiscovery = Regex.Replace(config, @"kubernetes_sd_configs:\n(\s+)- role: pod\n", "static_configs:\n$1- targets: [\"pod.example:9445\"]\n");
        Assert.NotEqual(config, withoutPodDiscovery);
        string path = _dir.File("prometheus.yml", withoutPodDiscovery);
        File.Copy(Repo.Path("deploy", "prometheus", "gputel-rules.yml"), Path.Combine(_dir.Path, "gputel-rules.yml"));

        (int exit, string output) = Run(promtool, "check", "config", path);
        Assert.True(exit == 0, output);
        Assert.Contains("SUCCESS: 1 rule files found", output, StringComparison.Ordinal);
        (exit, output) = Run(promtool, "check", "rules", Repo.Path("deploy", "prometheus", "gputel-rules.yml"));
        Assert.True(exit == 0, output);
    }

    [Fact]
    public void Prometheus_configuration_with_Kubernetes_discovery_passes_promtool()
    {
        string promtool = Tool("promtool", "the Debian package 'prometheus'");
        (int exit, string output) = Run(promtool, "check", "config", Repo.Path("deploy", "prometheus", "prometheus.yml"));
        Assert.SkipWhen(output.Contains("field kubernetes_sd_configs not found", StringComparison.Ordinal),
            "this promtool was built without Kubernetes service discovery (Debian's build); the rest of the configuration is checked by Prometheus_configuration_and_recording_rules_pass_promtool");
        Assert.True(exit == 0, output);
    }

    [Fact]
    public void Systemd_unit_passes_systemd_analyze_and_its_sandbox_rates_OK()
    {
        string analyze = Tool("systemd-analyze", "systemd");
        // verify checks that ExecStart's program exists: point it at a stand-in, change nothing else.
        string stub = _dir.File("gputel", "#!/bin/sh\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(stub, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);
        }

        string unit = _dir.File("gputel.service", File.ReadAllText(Repo.Path("deploy", "systemd", "gputel.service")).Replace("/usr/local/bin/gputel", stub, StringComparison.Ordinal));

        (int exit, string output) = Run(analyze, "verify", unit);
        Assert.Equal("", output.Trim()); // unknown keys and bad values are warnings, not failures
        Assert.Equal(0, exit);

        (exit, output) = Run(analyze, "security", "--offline=yes", unit);
        Assert.Equal(0, exit);
        Match rating = Regex.Match(output, @"Overall exposure level for gputel\.service: ([0-9.]+) (\w+)");
        Assert.True(rating.Success, output);
        Assert.Contains(rating.Groups[2].Value, new[] { "OK", "SAFE" });
    }

    [Fact]
    public void Container_image_builds_the_agent_alone_and_runs_it_as_a_non_root_user()
    {
        string[] lines = File.ReadAllLines(Repo.Path("deploy", "container", "Dockerfile"))
            .Where(l => l.Length > 0 && !l.TrimStart().StartsWith('#')).ToArray();
        string text = string.Join('\n', lines).Replace("\\\n", " ", StringComparison.Ordinal);

        Assert.True(lines.Count(l => l.StartsWith("FROM ", StringComparison.Ordinal)) >= 2, "multi-stage");
        Assert.Matches(@"dotnet publish agent/Gputel\.Agent\.csproj [^\n]*-p:AgentOnly=true", text);
        // Every file the build copies from the repository exists (a rename breaks the image otherwise).
        foreach (string copy in lines.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from", StringComparison.Ordinal)))
        {
            string[] parts = copy.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.All(parts[1..^1], source => Assert.True(File.Exists(Repo.Path(source)) || Directory.Exists(Repo.Path(source)), $"{copy}: {source} not found"));
        }

        // Without build arguments the image is built from source on Microsoft's runtime-deps base;
        // build-local.sh (run by ContainerImageTests) swaps both for what it made locally.
        Assert.Contains("ARG AGENT=build", lines);
        Assert.Contains(lines, l => l.StartsWith("ARG RUNTIME_BASE=mcr.microsoft.com/dotnet/runtime-deps:", StringComparison.Ordinal));
        Assert.Contains("FROM ${AGENT} AS agent", lines);
        Assert.Equal("FROM ${RUNTIME_BASE}", lines.Last(l => l.StartsWith("FROM ", StringComparison.Ordinal)));

        // The build stage restores and publishes every project the agent-only build references.
        foreach (string project in AgentOnlyProjects(Repo.Path("agent", "Gputel.Agent.csproj")))
        {
            string relative = Path.GetRelativePath(Repo.Root, project).Replace('\\', '/');
            string folder = relative[..(relative.IndexOf('/', StringComparison.Ordinal) + 1)];
            Assert.Contains($"COPY {relative} {folder}", lines);
            Assert.Contains($"COPY {folder} {folder}", lines);
        }

        string[] finalStage = lines.SkipWhile((_, i) => i < Array.FindLastIndex(lines, l => l.StartsWith("FROM ", StringComparison.Ordinal))).ToArray();
        Match user = Regex.Match(string.Join('\n', finalStage), @"^USER (\d+)(:\d+)?$", RegexOptions.Multiline);
        Assert.True(user.Success, "the final stage sets a numeric USER");
        Assert.NotEqual("0", user.Groups[1].Value);
    }

    /// <summary>
    /// <paramref name="project"/> and the projects it references with <c>AgentOnly=true</c>, transitively:
    /// references under a condition that excludes the agent-only build (the profiler) are left out.
    /// </summary>
    private static IEnumerable<string> AgentOnlyProjects(string project)
    {
        var seen = new SortedSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([Path.GetFullPath(project)]);
        while (pending.TryPop(out string? next))
        {
            if (!seen.Add(next))
            {
                continue;
            }

            foreach (System.Xml.Linq.XElement reference in System.Xml.Linq.XDocument.Load(next).Descendants("ProjectReference"))
            {
                string condition = (string?)reference.Parent?.Attribute("Condition") ?? "";
                if (!condition.Replace(" ", "", StringComparison.Ordinal).Contains("'$(AgentOnly)'!='true'", StringComparison.Ordinal))
                {
                    string path = ((string)reference.Attribute("Include")!).Replace('\\', '/');
                    pending.Push(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(next)!, path)));
                }
            }
        }

        Assert.Contains(seen, p => p.EndsWith("Gputel.Core.csproj", StringComparison.Ordinal));
        Assert.DoesNotContain(seen, p => p.EndsWith("Gputel.Profiler.csproj", StringComparison.Ordinal));
        return seen;
    }

    private static (int Exit, string Output) ValidateSchemas(JsonArray items)
    {
        string node = Tool("node", "Node.js (Debian package 'nodejs')");
        string schemaDir = Repo.Path("tests", "k8s-schema");
        Assert.SkipUnless(Directory.Exists(Path.Combine(schemaDir, "node_modules", "kubernetes-models")),
            "the Kubernetes schemas are not installed in tests/k8s-schema/node_modules (./setup.sh installs them with npm)");
        return Run(node, [Path.Combine(schemaDir, "validate.mjs")], items.ToJsonString(), schemaDir);
    }

    private static string Tool(string name, string package)
    {
        string? path = new[] { "/usr/bin/", "/usr/local/bin/", "/bin/" }.Select(d => d + name).FirstOrDefault(File.Exists);
        Assert.SkipWhen(path is null, $"{name} is not installed ({package})");
        return path!;
    }

    private static (int Exit, string Output) Run(string program, params string[] args) => Run(program, args, null, null);

    private static (int Exit, string Output) Run(string program, string[] args, string? input, string? workingDirectory)
    {
        var psi = new ProcessStartInfo(program, args)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        using Process process = Process.Start(psi)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(input ?? string.Empty);
        process.StandardInput.Close();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), $"{program} did not finish");
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    public void Dispose() => _dir.Dispose();
}
