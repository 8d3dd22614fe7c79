using Gputel.Agent.Configuration;
using Gputel.Collector.Exposition;
using Gputel.Collector.Store;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
#if FINETUNE
using Gputel.Profiler.Telemetry;
using OpenTelemetry.Trace;
#endif

namespace Gputel.Agent.Hosting;

/// <summary>
/// OTLP export with the OpenTelemetry SDK: the agent's hardware metrics, and for <c>finetune</c>
/// the training metrics and phase spans. Each start returns one handle; disposing it sends what is
/// left (a last export) and stops.
/// </summary>
internal static class OtlpExport
{
    private const string ServiceName = "gputel";

    /// <summary>Pushes the store's metrics (hardware semantic conventions) every <see cref="OtlpSettings.Interval"/>.</summary>
    /// <remarks>Exports that fail are told to <paramref name="warn"/> (<see cref="OtlpFailureLog"/>).</remarks>
    public static IDisposable StartAgent(OtlpSettings otlp, SampleStore store, AgentInfo info, Action<string> warn)
    {
        var failures = new OtlpFailureLog(warn);
        var meter = new HardwareMeter(store, info.DriverVersion, info.Version);
        MeterProvider provider = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(r => Describe(r, info.Version, info.Hostname))
            .AddMeter(HardwareMeter.MeterName)
            .AddOtlpExporter((exporter, reader) => Configure(exporter, reader, otlp))
            .Build();
        // The provider goes first: its last export still reads the meter.
        return new Handles(provider, meter, failures);
    }

#if FINETUNE
    /// <summary>
    /// Pushes the training metrics (OpenTelemetry names) and the phase spans. A run's last values are
    /// flushed when its telemetry ends, so a run shorter than the interval is reported too.
    /// </summary>
    public static IDisposable StartTraining(OtlpSettings otlp, string version, Action<string> warn)
    {
        var failures = new OtlpFailureLog(warn);
        string host = System.Net.Dns.GetHostName();
        MeterProvider meters = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(r => Describe(r, version, host))
            .AddMeter(TrainingTelemetry.OpenTelemetryMeterName)
            .AddOtlpExporter((exporter, reader) => Configure(exporter, reader, otlp))
            .Build();
        TracerProvider traces = Sdk.CreateTracerProviderBuilder()
            .ConfigureResource(r => Describe(r, version, host))
            .AddSource(TrainingTelemetry.SourceName)
            .AddOtlpExporter(exporter => Configure(exporter, otlp, "v1/traces"))
            .Build();
        EventHandler flush = (_, _) => meters.ForceFlush();
        TrainingTelemetry.Completing += flush;
        return new Handles(new Unsubscribe(() => TrainingTelemetry.Completing -= flush), traces, meters, failures);
    }
#endif

    private static void Configure(OtlpExporterOptions exporter, MetricReaderOptions reader, OtlpSettings otlp)
    {
        Configure(exporter, otlp, "v1/metrics");
        reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)otlp.Interval.TotalMilliseconds;
        reader.TemporalityPreference = MetricReaderTemporalityPreference.Cumulative;
    }

    private static void Configure(OtlpExporterOptions exporter, OtlpSettings otlp, string httpPath)
    {
        // An endpoint set in code is used as it is, so the HTTP signal path is added here, as the
        // SDK does for OTEL_EXPORTER_OTLP_ENDPOINT. Headers still come from OTEL_EXPORTER_OTLP_HEADERS.
        exporter.Endpoint = otlp.SignalEndpoint(httpPath);
        exporter.Protocol = otlp.Protocol == OtlpProtocol.Grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
    }

    // OTEL_RESOURCE_ATTRIBUTES (e.g. k8s.node.name) is still read: CreateDefault's detectors run first.
    private static void Describe(ResourceBuilder resource, string version, string host) =>
        resource.AddService(ServiceName, serviceVersion: version, autoGenerateServiceInstanceId: false, serviceInstanceId: host)
            .AddAttributes([new("host.name", host)]);

    private sealed class Handles(params IDisposable[] parts) : IDisposable
    {
        public void Dispose()
        {
            foreach (IDisposable part in parts)
            {
                part.Dispose();
            }
        }
    }

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}
