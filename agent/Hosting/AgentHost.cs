using System.Net;
using System.Reflection;
using System.Text.Json;
using Gputel.Agent.Configuration;
using Gputel.Collector.Collectors;
using Gputel.Collector.Exposition;
using Gputel.Collector.Processes;
using Gputel.Collector.Sampling;
using Gputel.Collector.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace Gputel.Agent.Hosting;

/// <summary>
/// The daemon: opens NVML, starts the samplers and serves <c>/metrics</c> and <c>/health</c> until
/// stopped (Ctrl+C or SIGTERM). Without a driver it says so once and serves host and self metrics.
/// </summary>
internal static class AgentHost
{
    public static string Version { get; } =
        typeof(AgentHost).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public static async Task<int> RunAsync(AgentSettings settings, CancellationToken cancellationToken)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        // A failed start (the port in use) is told once, on one line, by the agent command; the
        // host's own error would repeat it with a stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        WebSecurity.Listen(builder, settings);
        builder.Services.AddSingleton(settings);

        await using WebApplication app = builder.Build();
        ILogger log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("gputel");

        using GpuSession session = GpuSession.Open(settings.NvmlLibrary);
        if (session.UnavailableReason is not null)
        {
            log.LogWarning("{Reason}; serving host and self metrics only", session.UnavailableReason);
        }
        else
        {
            log.LogInformation("NVML {Library}: driver {Driver}, {Count} GPU(s)", session.Driver!.LibraryPath, session.DriverVersion, session.Devices.Count);
        }

        foreach (string warning in session.Warnings)
        {
            log.LogWarning("{Warning}", warning);
        }

        var store = new SampleStore(session.Devices, settings.Collectors);
        using XidWatcher? xid = settings.Collectors.Contains("xid") && session.Driver is not null && session.Devices.Count > 0
            ? new XidWatcher(session.Driver, session.Devices)
            : null;
        using PodResourcesClient? kubelet = settings.PodResourcesSocket is null ? null : new PodResourcesClient(settings.PodResourcesSocket, TimeSpan.FromSeconds(2));
        PodDirectory? pods = kubelet is null ? null : new PodDirectory(kubelet.ListAsync, TimeSpan.FromSeconds(5));
        IReadOnlyList<IGpuCollector> collectors = CollectorCatalog.Create(settings.Collectors, store, xid, settings.ProcRoot, pods);
        using var sampler = new Sampler(store, collectors, settings.MemoryInterval, settings.Interval, line => log.LogWarning("{Event}", line));
        var info = new AgentInfo(Dns.GetHostName(), session.DriverVersion, session.Driver is not null, settings.Interval, Version);
        var exposition = new PrometheusExposition(store, settings.MetricNames, info);
        using IDisposable? otlp = settings.Otlp is null ? null : OtlpExport.StartAgent(settings.Otlp, store, info, line => log.LogWarning("{Event}", line));
        if (settings.Otlp is not null)
        {
            log.LogInformation("OTLP metrics to {Otlp}", settings.Otlp);
        }

        if (kubelet is not null)
        {
            log.LogInformation("pod names of GPU processes from kubelet {Socket}", kubelet.SocketPath);
        }

        WebSecurity.UseAuthentication(app, settings, log);
        MapEndpoints(app, exposition, store, session);
        sampler.Start();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);

        string addresses = string.Join(", ", app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []);
        log.LogInformation(
            "gputel {Version} listening on {Addresses} (metric names: {Profile}; memory every {Memory}, others every {Interval}; collectors: {Collectors})",
            Version, addresses, settings.MetricNames.ToString().ToLowerInvariant(), DurationParser.Format(settings.MemoryInterval),
            DurationParser.Format(settings.Interval), string.Join(",", settings.Collectors));

        await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        return 0;
    }

    private static void MapEndpoints(WebApplication app, PrometheusExposition exposition, SampleStore store, GpuSession session)
    {
        app.MapGet("/metrics", async (HttpContext context) =>
        {
            // The same bytes for every scraper until the next sample (PrometheusExposition), and
            // their gzip form for those that ask, as Prometheus does: a tenth of the bytes to send.
            ExpositionEncoding encoding = AcceptsGzip(context.Request) ? ExpositionEncoding.Gzip : ExpositionEncoding.Identity;
            using ExpositionLease lease = await exposition.AcquireAsync(encoding, context.RequestAborted).ConfigureAwait(false);
            HttpResponse response = context.Response;
            response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            response.Headers.Vary = "Accept-Encoding";
            if (encoding == ExpositionEncoding.Gzip)
            {
                response.Headers.ContentEncoding = "gzip";
            }

            response.ContentLength = lease.Body.Length;
            await response.Body.WriteAsync(lease.Body, context.RequestAborted).ConfigureAwait(false);
        });

        // Liveness, not GPU health: a lost GPU is reported in the body and by gpu_up, and must not
        // get the agent restarted (it recovers by itself when the GPU answers again).
        app.MapGet("/health", (HttpContext context) =>
        {
            int up = Enumerable.Range(0, store.Devices.Count).Count(store.IsUp);
            context.Response.ContentType = "application/json";
            return context.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["status"] = "ok",
                ["nvml"] = session.Driver is not null,
                ["nvml_error"] = session.UnavailableReason,
                ["gpus"] = store.Devices.Count,
                ["gpus_up"] = up,
            }, HealthJson.Default.DictionaryStringObject));
        });

        app.MapGet("/", () => Results.Text(
            "gputel agent\n/metrics  Prometheus exposition\n/health   liveness (JSON)\n", "text/plain"));
    }

    /// <summary>Whether the request's Accept-Encoding takes gzip (by name or <c>*</c>, with a quality above 0).</summary>
    internal static bool AcceptsGzip(HttpRequest request)
    {
        if (request.Headers.AcceptEncoding.Count == 0)
        {
            return false;
        }

        foreach (StringWithQualityHeaderValue value in request.GetTypedHeaders().AcceptEncoding)
        {
            if ((value.Value.Equals("gzip", StringComparison.OrdinalIgnoreCase) || value.Value.Equals("*", StringComparison.Ordinal))
                && value.Quality is not <= 0)
            {
                return true;
            }
        }

        return false;
    }
}
