using System.Diagnostics.Metrics;
using Gputel.Agent.Configuration;
using Gputel.Profiler.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Gputel.Agent.Hosting;

/// <summary>
/// Serves the training gauges of a running <c>finetune</c> on <c>/metrics</c>. A MeterListener reads
/// the System.Diagnostics.Metrics instruments at each scrape and writes them to prometheus-net
/// series under the instruments' own names (docs/METRICS.md, OTLP section): prometheus-net's meter adapter would prefix
/// the meter name and turn counters into gauges.
/// </summary>
internal sealed class TrainingMetricsServer : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly CollectorRegistry _registry = Metrics.NewCustomRegistry();
    private readonly Dictionary<string, (Gauge? Gauge, Counter? Counter, string[] Labels)> _series = [];
    private readonly Lock _gate = new();
    private WebApplication? _app;

    public static TrainingMetricsServer Start(ListenAddress listen)
    {
        var server = new TrainingMetricsServer();
        server.Listen();
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(listen.Address, listen.Port));
        WebApplication app = builder.Build();
        app.MapGet("/metrics", async (HttpContext context) =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await server._registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        });
        try
        {
            app.StartAsync().GetAwaiter().GetResult();
        }
        catch
        {
            server.Dispose();
            ((IDisposable)app).Dispose();
            throw;
        }

        server._app = app;
        // The address bound, so port 0 shows the port the system picked.
        string bound = app.Urls.FirstOrDefault() ?? $"http://{listen}";
        Console.WriteLine($"training gauges on {bound}/metrics");
        return server;
    }

    private void Listen()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            // Histograms (step time) are served as their last value: the run record keeps every step.
            if (instrument.Meter.Name == TrainingTelemetry.SourceName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
        _registry.AddBeforeCollectCallback(_listener.RecordObservableInstruments);
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string[] names = new string[tags.Length], values = new string[tags.Length];
        for (int i = 0; i < tags.Length; i++)
        {
            names[i] = tags[i].Key;
            values[i] = Convert.ToString(tags[i].Value, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty;
        }

        lock (_gate)
        {
            if (!_series.TryGetValue(instrument.Name, out var series))
            {
                var factory = Metrics.WithCustomRegistry(_registry);
                string help = instrument.Description ?? instrument.Name;
                series = instrument is Counter<long>
                    ? (null, factory.CreateCounter(instrument.Name, help, names), names)
                    : (factory.CreateGauge(instrument.Name, help, names), null, names);
                _series[instrument.Name] = series;
            }

            if (series.Counter is { } counter)
            {
                counter.WithLabels(values).Inc(value);
            }
            else
            {
                series.Gauge!.WithLabels(values).Set(value);
            }
        }
    }

    public void Dispose()
    {
        _app?.StopAsync().GetAwaiter().GetResult();
        (_app as IDisposable)?.Dispose();
        _listener.Dispose();
    }
}
