using System.Diagnostics.Metrics;
using Gputel.Collector.Collectors;
using Gputel.Collector.Exposition;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Sampling;
using Gputel.Collector.Store;
using Gputel.Tests.Support;
using static Gputel.Tests.Support.Scripts;

namespace Gputel.Collector.Tests;

/// <summary>
/// The one metric catalogue (<see cref="GpuMetrics.All"/>): every quantity says how Prometheus,
/// OTLP and <c>gputel devices</c> show it, or why one of them does not, and the OTLP meter exports
/// exactly the instruments it names.
/// </summary>
public sealed class MetricCatalogueTests
{
    [Fact]
    public void Every_quantity_is_named_for_each_consumer_or_says_why_not()
    {
        Assert.True(GpuMetrics.All.Count > 40, $"only {GpuMetrics.All.Count} quantities found");
        Assert.Equal(GpuMetrics.All.Count, GpuMetrics.All.Distinct().Count());
        foreach (MetricDescriptor m in GpuMetrics.All)
        {
            // Prometheus: a default-profile name, or a dcgm-only field (served in that profile alone).
            Assert.True(m.Name is not null || m.Dcgm is not null, $"{m}: no Prometheus name in either profile");
            Assert.True((m.Otlp is null) != (m.OtlpOmitted is null), $"{m}: needs an OTLP instrument or the reason it has none (not both)");
            Assert.True((m.DevicesField is null) != (m.DevicesOmitted is null), $"{m}: needs a devices field or the reason it has none (not both)");
        }
    }

    [Fact]
    public void No_two_quantities_share_a_name_in_any_consumer()
    {
        string[] prometheus = [.. GpuMetrics.All.Where(m => m.Name is not null).Select(m => $"{m.Name}{{{m.LabelName}={m.LabelValue}}}")];
        Assert.Equal(prometheus.Length, prometheus.Distinct().Count());
        string[] dcgm = [.. GpuMetrics.All.Where(m => m.Dcgm is not null).Select(m => m.Dcgm!.Name)];
        Assert.Equal(dcgm.Length, dcgm.Distinct().Count());
        string[] otlp = [.. GpuMetrics.All.Where(m => m.Otlp is not null).Select(m => $"{m.Otlp!.Name}{{{m.Otlp.AttributeKey}={m.Otlp.AttributeValue ?? m.Otlp.LabelPrefix + "*"}}}")];
        Assert.Equal(otlp.Length, otlp.Distinct().Count());
        string[] devices = [.. GpuMetrics.All.Where(m => m.DevicesField is not null && !m.DevicesField.EndsWith("[]", StringComparison.Ordinal)).Select(m => m.DevicesField!)];
        Assert.Equal(devices.Length, devices.Distinct().Count());

        // Quantities that share an instrument agree on what it is.
        foreach (IGrouping<string, OtlpInstrument> instrument in GpuMetrics.All.Where(m => m.Otlp is not null).Select(m => m.Otlp!).GroupBy(o => o.Name))
        {
            Assert.Single(instrument.Select(o => (o.Unit, o.Kind, o.Description, o.Integer)).Distinct());
        }
    }

    [Fact]
    public void The_otlp_meter_creates_exactly_the_catalogues_instruments()
    {
        using GpuSession session = FakeNvml.Open(Header() + Gpu(0));
        var store = new SampleStore(session.Devices, [.. CollectorCatalog.Names.Where(n => n is not "xid")]);
        var published = new List<Instrument>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == HardwareMeter.MeterName)
                {
                    published.Add(instrument);
                }
            },
        };
        listener.Start();

        using var meter = new HardwareMeter(store, "560.35.03", "test");

        Assert.Equal(
            HardwareMeter.Instruments.Select(i => (i.Name, i.Unit)).Order(),
            published.Select(i => (i.Name, i.Unit ?? string.Empty)).Order());
        // The catalogue's own instruments are among them, each once.
        Assert.Subset(published.Select(i => i.Name).ToHashSet(), GpuMetrics.All.Where(m => m.Otlp is not null).Select(m => m.Otlp!.Name).ToHashSet());
        Assert.Equal(published.Count, published.Select(i => i.Name).Distinct().Count());
    }

    [Fact]
    public void A_reading_of_a_catalogue_quantity_is_exported_with_its_attribute()
    {
        using GpuSession session = FakeNvml.Open(Header() + Gpu(0));
        string[] names = [.. CollectorCatalog.Names.Where(n => n is not "xid" and not "host")];
        var store = new SampleStore(session.Devices, names);
        using (var sampler = new Sampler(store, CollectorCatalog.Create(names, store, xid: null), TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(1)))
        {
            sampler.SampleOnce();
        }

        var points = new List<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == HardwareMeter.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => points.Add((i.Name, v, Tags(tags))));
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => points.Add((i.Name, v, Tags(tags))));
        listener.Start();
        using var meter = new HardwareMeter(store, "560.35.03", "test");
        listener.RecordObservableInstruments();

        // Each quantity with a reading shows as a point of its instrument carrying its attribute.
        foreach (MetricDescriptor m in GpuMetrics.All.Where(m => m.Otlp is { Source: OtlpSource.Readings or OtlpSource.Sensor, AttributeValue: not null }))
        {
            bool read = Enumerable.Range(0, store.CollectorNames.Count).Any(c => store.Get(c, 0)?.Readings.Any(r => ReferenceEquals(r.Metric, m)) == true);
            Assert.Equal(read, points.Any(p => p.Instrument == m.Otlp!.Name && Equals(p.Tags.GetValueOrDefault(m.Otlp.AttributeKey!), m.Otlp.AttributeValue)));
        }

        Assert.Contains(points, p => p.Instrument == "hw.gpu.memory.usage" && p.Value > 0);
    }

    private static Dictionary<string, object?> Tags(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var result = new Dictionary<string, object?>();
        foreach (KeyValuePair<string, object?> t in tags)
        {
            result[t.Key] = t.Value;
        }

        return result;
    }
}
