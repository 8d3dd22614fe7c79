using System.Diagnostics.Metrics;
using System.Globalization;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Store;

namespace Gputel.Collector.Exposition;

/// <summary>
/// The store as System.Diagnostics.Metrics instruments named after the OpenTelemetry hardware
/// semantic conventions (<c>hw.gpu.memory.usage</c>, <c>hw.power</c>, ... with <c>hw.id</c>,
/// <c>hw.type=gpu</c>, ...), for an OTLP exporter to collect: one instrument for each
/// <see cref="OtlpInstrument"/> name in the metric catalogue (<see cref="GpuMetrics.All"/>). Every instrument is observable: its
/// callback reads what the samplers last stored and never calls NVML, so a failing or hung
/// collector only leaves its values out. The memory peak window is not touched: it belongs to the
/// Prometheus scrape.
/// </summary>
public sealed class HardwareMeter : IDisposable
{
    /// <summary>Name of the meter.</summary>
    public const string MeterName = "Gputel.Agent";

    private const string Vendor = "NVIDIA";
    private readonly SampleStore _store;
    private readonly Meter _meter;
    private readonly KeyValuePair<string, object?>[][] _device;
    private readonly KeyValuePair<string, object?>[][][] _mig;

    /// <summary>Creates the instruments over <paramref name="store"/>.</summary>
    /// <param name="store">The samplers' store.</param>
    /// <param name="driverVersion">The NVIDIA driver version for <c>hw.driver_version</c>, or empty.</param>
    /// <param name="version">The agent's version, the meter's version.</param>
    public HardwareMeter(SampleStore store, string driverVersion, string version)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _meter = new Meter(MeterName, version);
        // Attributes are built once per GPU: only values change between collections.
        _device = store.Devices.Select(d => GpuAttributes(d, driverVersion)).ToArray();
        _mig = store.Devices.Select(d => d.MigInstances.Select(m => MigAttributes(d, m)).ToArray()).ToArray();

        // One instrument per name of the catalogue (GpuMetrics.All), its points those of every
        // quantity that names it: a quantity added there is exported here as well.
        foreach (IGrouping<string, MetricDescriptor> instrument in GpuMetrics.All.Where(m => m.Otlp is not null).GroupBy(m => m.Otlp!.Name))
        {
            MetricDescriptor[] quantities = [.. instrument];
            OtlpInstrument first = quantities[0].Otlp!;
            if (first.Integer)
            {
                Create(first, () => Observe(quantities).Select(p => new Measurement<long>((long)p.Value, p.Tags)));
            }
            else
            {
                Create(first, () => Observe(quantities).Select(p => new Measurement<double>(p.Value, p.Tags)));
            }
        }

        // Derived from the memory figures rather than measured: no quantity of its own.
        _meter.CreateObservableGauge("hw.gpu.memory.utilization", ObserveMemoryShare, "1", "Fraction of GPU memory used.");
        // Per process, with the process's attributes: process readings are not quantities of the catalogue.
        _meter.CreateObservableUpDownCounter("process.gpu.memory.usage", ObserveProcesses, "By", "GPU memory used by a process.");
    }

    /// <summary>Every instrument the meter creates, by name, with its unit and kind: the catalogue's and the two derived ones.</summary>
    public static IReadOnlyList<(string Name, string Unit, OtlpKind Kind)> Instruments { get; } =
    [
        .. GpuMetrics.All.Where(m => m.Otlp is not null).Select(m => (m.Otlp!.Name, m.Otlp.Unit, m.Otlp.Kind)).Distinct(),
        ("hw.gpu.memory.utilization", "1", OtlpKind.Gauge),
        ("process.gpu.memory.usage", "By", OtlpKind.UpDownCounter),
    ];

    private void Create<T>(OtlpInstrument instrument, Func<IEnumerable<Measurement<T>>> observe)
        where T : struct
    {
        switch (instrument.Kind)
        {
            case OtlpKind.Counter:
                _meter.CreateObservableCounter(instrument.Name, observe, instrument.Unit, instrument.Description);
                break;
            case OtlpKind.UpDownCounter:
                _meter.CreateObservableUpDownCounter(instrument.Name, observe, instrument.Unit, instrument.Description);
                break;
            default:
                _meter.CreateObservableGauge(instrument.Name, observe, instrument.Unit, instrument.Description);
                break;
        }
    }

    /// <summary>The points of the quantities of one instrument, each with its source's attributes.</summary>
    private IEnumerable<(double Value, KeyValuePair<string, object?>[] Tags)> Observe(MetricDescriptor[] quantities)
    {
        foreach (MetricDescriptor metric in quantities)
        {
            OtlpInstrument o = metric.Otlp!;
            switch (o.Source)
            {
                case OtlpSource.Memory:
                    foreach ((MemoryInfo memory, KeyValuePair<string, object?>[] tags) in MemoryFigures())
                    {
                        if (GpuMetrics.MemoryValue(metric, memory) is { } value)
                        {
                            yield return (value, tags);
                        }
                    }

                    break;
                case OtlpSource.Status:
                    for (int d = 0; d < _store.Devices.Count; d++)
                    {
                        bool up = _store.IsUp(d);
                        yield return (up ? 1 : 0, [.. _device[d], new("hw.state", "ok")]);
                        yield return (up ? 0 : 1, [.. _device[d], new("hw.state", "failed")]);
                    }

                    break;
                default:
                    foreach (Reading r in Readings(metric))
                    {
                        yield return (r.Value, Tags(o, r));
                    }

                    break;
            }
        }
    }

    private KeyValuePair<string, object?>[] Tags(OtlpInstrument o, Reading r)
    {
        if (o.Source == OtlpSource.Host)
        {
            return [];
        }

        string? value = o.AttributeKey is null ? null : o.AttributeValue ?? o.LabelPrefix + r.LabelValue;
        if (o.Source == OtlpSource.Sensor)
        {
            // Temperatures follow the conventions' temperature sensors: each sensor is a component
            // of its own (hw.type=temperature) whose hw.parent is the GPU.
            GpuDevice gpu = _store.Devices[r.Device];
            return
            [
                new("hw.id", $"{gpu.Uuid}/temperature/{value}"),
                new("hw.name", $"{gpu.DeviceNode} {value}"),
                new("hw.type", "temperature"),
                new("hw.parent", gpu.Uuid),
                new(o.AttributeKey!, value),
            ];
        }

        return o.AttributeKey is null ? _device[r.Device] : [.. _device[r.Device], new(o.AttributeKey, value)];
    }

    private IEnumerable<(MemoryInfo Memory, KeyValuePair<string, object?>[] Tags)> MemoryFigures()
    {
        for (int d = 0; d < _store.Devices.Count; d++)
        {
            if (_store.Memory(d).TryRead(closeWindow: false, out MemoryInfo memory, out _))
            {
                yield return (memory, _device[d]);
            }

            for (int m = 0; m < _mig[d].Length; m++)
            {
                if (_store.MigMemory(d, m).TryRead(closeWindow: false, out MemoryInfo mig, out _))
                {
                    yield return (mig, _mig[d][m]);
                }
            }
        }
    }

    private IEnumerable<Measurement<double>> ObserveMemoryShare() =>
        MemoryFigures().Select(f => new Measurement<double>(f.Memory.Total == 0 ? 0.0 : (double)f.Memory.Used / f.Memory.Total, f.Tags));

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<long>> ObserveProcesses()
    {
        foreach (CollectorResult result in Results(hostToo: false))
        {
            foreach (ProcessReading p in result.Processes)
            {
                GpuDevice gpu = _store.Devices[p.Device];
                var tags = new List<KeyValuePair<string, object?>>
                {
                    new("hw.id", gpu.Uuid),
                    new("hw.type", "gpu"),
                    new("process.pid", p.Pid),
                };
                AddIfKnown(tags, "process.executable.name", p.Command);
                AddIfKnown(tags, "container.id", p.ContainerId);
                AddIfKnown(tags, "k8s.pod.name", p.Pod);
                AddIfKnown(tags, "k8s.pod.uid", p.PodUid);
                AddIfKnown(tags, "k8s.namespace.name", p.Namespace);
                yield return new Measurement<long>((long)p.UsedBytes, tags.ToArray());
            }
        }
    }

    /// <summary>
    /// The latest readings of one quantity. Each callback walks the store on its own: the store is a
    /// few hundred readings in memory, cheaper to scan than a shared snapshot is to keep fresh.
    /// </summary>
    private IEnumerable<Reading> Readings(MetricDescriptor metric)
    {
        foreach (CollectorResult result in Results(hostToo: true))
        {
            foreach (Reading r in result.Readings)
            {
                // MIG readings of non-memory quantities would need MIG attributes; none exist today.
                if (ReferenceEquals(r.Metric, metric) && r.MigInstance is null)
                {
                    yield return r;
                }
            }
        }
    }

    private IEnumerable<CollectorResult> Results(bool hostToo)
    {
        for (int c = 0; c < _store.CollectorNames.Count; c++)
        {
            for (int slot = 0; slot <= _store.HostSlot; slot++)
            {
                bool host = slot == _store.HostSlot;
                // A lost GPU's last values are not reported as current (hw.status says it is lost).
                if ((host && !hostToo) || (!host && !_store.IsUp(slot)) || _store.Get(c, slot) is not { } result)
                {
                    continue;
                }

                yield return result;
            }
        }
    }

    private static void AddIfKnown(List<KeyValuePair<string, object?>> tags, string key, string value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            tags.Add(new(key, value));
        }
    }

    private static KeyValuePair<string, object?>[] GpuAttributes(GpuDevice gpu, string driverVersion)
    {
        var tags = new List<KeyValuePair<string, object?>>
        {
            new("hw.id", gpu.Uuid),
            new("hw.name", gpu.DeviceNode),
            new("hw.type", "gpu"),
            new("hw.vendor", Vendor),
            new("hw.model", gpu.Name),
            new("gpu.index", gpu.Index.ToString(CultureInfo.InvariantCulture)),
        };
        AddIfKnown(tags, "hw.driver_version", driverVersion);
        return tags.ToArray();
    }

    /// <summary>A MIG instance is a component of its own whose parent is the GPU.</summary>
    private static KeyValuePair<string, object?>[] MigAttributes(GpuDevice gpu, MigInstance mig) =>
    [
        new("hw.id", $"{gpu.Uuid}/mig/{mig.Label}"),
        new("hw.name", $"{gpu.DeviceNode} mig {mig.Label}"),
        new("hw.type", "gpu"),
        new("hw.vendor", Vendor),
        new("hw.model", gpu.Name),
        new("hw.parent", gpu.Uuid),
    ];
}
