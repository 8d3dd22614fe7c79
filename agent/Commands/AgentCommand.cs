using System.CommandLine;
using Gputel.Agent.Configuration;
using Gputel.Agent.Hosting;
using Gputel.Collector.Collectors;

namespace Gputel.Agent.Commands;

/// <summary><c>gputel agent</c>: the sampling daemon.</summary>
internal static class AgentCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = $"Address to serve /metrics and /health on, HOST:PORT (default {AgentSettings.DefaultListen}; port 0 picks a free one). Env GPUTEL_LISTEN." };
        var memoryInterval = new Option<string>("--memory-interval") { Description = $"How often device memory is sampled, e.g. 10ms (default {AgentSettings.DefaultMemoryInterval}). The peak between scrapes is served as gpu_memory_used_peak_bytes. Env GPUTEL_MEMORY_INTERVAL." };
        var interval = new Option<string>("--interval") { Description = $"How often the other families are sampled (default {AgentSettings.DefaultInterval}). Env GPUTEL_INTERVAL." };
        var collectors = new Option<string>("--collectors") { Description = $"Collectors to run: names (memory,power) or exclusions (-xid,-ecc). Known: {string.Join(", ", CollectorCatalog.Names)}. Default all. Env GPUTEL_COLLECTORS." };
        var metricNames = new Option<string>("--metric-names") { Description = "Naming profile: 'default' (base units) or 'dcgm' (dcgm-exporter 4.8 names, units and labels, for dashboard 12239). Env GPUTEL_METRIC_NAMES." };
        var nvmlLibrary = new Option<string>("--nvml-library") { Description = "Path of libnvidia-ml.so.1 (nvml.dll) when it is not where the loader looks. Env GPUTEL_NVML_LIBRARY." };
        var procRoot = new Option<string>("--proc-root") { Description = $"Where the host's /proc is, e.g. /host/proc in a container (default {AgentSettings.DefaultProcRoot}). Env GPUTEL_PROC_ROOT." };
        var podResources = new Option<string>("--pod-resources-socket") { Description = $"Kubelet pod-resources socket that names the pod and namespace of GPU processes (default {AgentSettings.DefaultPodResourcesSocket} when it exists; 'none' turns it off). Env GPUTEL_POD_RESOURCES_SOCKET." };
        OtlpOptions otlp = OtlpOptions.Create();
        var webConfig = new Option<string>("--web-config") { Description = "Web config file (Prometheus exporter toolkit format): tls_server_config (cert_file, key_file, client_ca_file, client_auth_type, min_version) and basic_auth_users (user: bcrypt hash). See docs/SECURITY.md. Env GPUTEL_WEB_CONFIG." };
        var config = new Option<string>("--config") { Description = "YAML file with any of: listen, memory_interval, interval, collectors, metric_names, nvml_library, otlp_endpoint, otlp_protocol, otlp_interval, proc_root, pod_resources_socket, web_config. Flags override environment, which overrides the file. Env GPUTEL_CONFIG." };

        var command = new Command("agent", "Run the daemon: sample every GPU through NVML and serve Prometheus /metrics.")
        {
            listen, memoryInterval, interval, collectors, metricNames, nvmlLibrary, procRoot, podResources, webConfig, config,
        };
        otlp.AddTo(command);

        command.SetAction(async (parse, cancellationToken) =>
        {
            var flags = new Dictionary<string, string?>
            {
                ["listen"] = parse.GetValue(listen),
                ["memory_interval"] = parse.GetValue(memoryInterval),
                ["interval"] = parse.GetValue(interval),
                ["collectors"] = parse.GetValue(collectors),
                ["metric_names"] = parse.GetValue(metricNames),
                ["nvml_library"] = parse.GetValue(nvmlLibrary),
                ["proc_root"] = parse.GetValue(procRoot),
                ["pod_resources_socket"] = parse.GetValue(podResources),
                ["web_config"] = parse.GetValue(webConfig),
            };
            otlp.AddFlags(parse, flags);

            AgentSettings settings;
            try
            {
                settings = SettingsLoader.Load(parse.GetValue(config), flags, Environment.GetEnvironmentVariable);
            }
            catch (SettingsException e)
            {
                await Console.Error.WriteLineAsync($"gputel agent: {e.Message}").ConfigureAwait(false);
                return Program.UsageError;
            }

            try
            {
                return await AgentHost.RunAsync(settings, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException || e.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
            {
                await Console.Error.WriteLineAsync($"gputel agent: cannot listen on {settings.Listen}: {e.Message}").ConfigureAwait(false);
                return 1;
            }
        });
        return command;
    }
}
