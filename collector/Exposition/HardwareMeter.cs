using System.Diagnostics.Metrics;
using System.Globalization;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Store;

namespace Gputel.Collector.Exposition;

/// <summary>
/// The store as System.Diagnostics.Metrics instruments named after the OpenTelemetry hardware
/// semantic conventions (<c>hw.gpu.memory.usage</c>, <c>hw.power</c>, ... with <c>hw.id</c>,
/// <c>hw.type=gpu</c>, ...), for an OTLP exporter to collect. Every instrument is observable: its
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

        _meter.CreateObservableUpDownCounter("hw.gpu.memory.usage", () => Memory(m => (long)m.Used), "By", "GPU memory used.");
        _meter.CreateObservableUpDownCounter("hw.gpu.memory.limit", () => Memory(m => (long)m.Total), "By", "Size of the GPU memory.");
        _meter.CreateObservableGauge("hw.gpu.memory.utilization", () => Memory(m => m.Total == 0 ? 0.0 : (double)m.Used / m.Total), "1", "Fraction of GPU memory used.");
        _meter.CreateObservableGauge("hw.gpu.utilization", ObserveUtilization, "1", "Fraction of time spent in a specific task.");
        _meter.CreateObservableCounter("hw.gpu.io", ObserveIo, "By", "Bytes received and transmitted by the GPU over NVLink.");
        _meter.CreateObservableGauge("hw.power", () => Device(GpuMetrics.Power, v => v), "W", "Instantaneous power consumed by the GPU.");
        _meter.CreateObservableCounter("hw.energy", () => Device(GpuMetrics.Energy, v => v), "J", "Energy consumed by the GPU since the driver was loaded.");
        _meter.CreateObservableGauge("hw.temperature", ObserveTemperature, "Cel", "Temperature in degrees Celsius.");
        _meter.CreateObservableCounter("hw.errors", ObserveErrors, "{error}", "Number of errors encountered by the GPU.");
        _meter.CreateObservableUpDownCounter("hw.status", ObserveStatus, "1", "Operational status: 1 for the GPU's state, 0 for the others.");
        _meter.CreateObservableUpDownCounter("process.gpu.memory.usage", ObserveProcesses, "By", "GPU memory used by a process.");
        _meter.CreateObservableUpDownCounter("system.memory.limit", () => Host(GpuMetrics.HostMemoryTotal), "By", "Total host memory.");
        _meter.CreateObservableUpDownCounter("system.memory.linux.available", () => Host(GpuMetrics.HostMemoryAvailable), "By", "Host memory available to new work (MemAvailable).");
    }

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<T>> Memory<T>(Func<MemoryInfo, T> value)
        where T : struct
    {
        var result = new List<Measurement<T>>();
        for (int d = 0; d < _store.Devices.Count; d++)
        {
            if (_store.Memory(d).TryRead(closeWindow: false, out MemoryInfo memory, out _))
            {
                result.Add(new Measurement<T>(value(memory), _device[d]));
            }

            for (int m = 0; m < _mig[d].Length; m++)
            {
                if (_store.MigMemory(d, m).TryRead(closeWindow: false, out MemoryInfo mig, out _))
                {
                    result.Add(new Measurement<T>(value(mig), _mig[d][m]));
                }
            }
        }

        return result;
    }

    private IEnumerable<Measurement<double>> ObserveUtilization()
    {
        foreach ((MetricDescriptor metric, string task) in new[]
        {
            (GpuMetrics.Utilization, "general"), (GpuMetrics.EncoderUtilization, "encoder"), (GpuMetrics.DecoderUtilization, "decoder"),
        })
        {
            foreach (Reading r in Readings(metric))
            {
                yield return new Measurement<double>(r.Value, [.. _device[r.Device], new("hw.gpu.task", task)]);
            }
        }
    }

    private IEnumerable<Measurement<long>> ObserveIo()
    {
        foreach ((MetricDescriptor metric, string direction) in new[] { (GpuMetrics.NvLinkRx, "receive"), (GpuMetrics.NvLinkTx, "transmit") })
        {
            foreach (Reading r in Readings(metric))
            {
                yield return new Measurement<long>((long)r.Value, [.. _device[r.Device], new("network.io.direction", direction)]);
            }
        }
    }

    /// <summary>
    /// Temperatures follow the conventions' temperature sensors: each sensor is a component of its
    /// own (<c>hw.type=temperature</c>) whose <c>hw.parent</c> is the GPU.
    /// </summary>
    private IEnumerable<Measurement<double>> ObserveTemperature()
    {
        foreach ((MetricDescriptor metric, string location) in new[] { (GpuMetrics.Temperature, "gpu"), (GpuMetrics.MemoryTemperature, "memory") })
        {
            foreach (Reading r in Readings(metric))
            {
                GpuDevice gpu = _store.Devices[r.Device];
                yield return new Measurement<double>(r.Value,
                    new("hw.id", $"{gpu.Uuid}/temperature/{location}"),
                    new("hw.name", $"{gpu.DeviceNode} {location}"),
                    new("hw.type", "temperature"),
                    new("hw.parent", gpu.Uuid),
                    new("hw.sensor_location", location));
            }
        }
    }

    /// <summary>ECC errors over the board's life (<c>corrected</c>, <c>uncorrected</c>) and Xid errors since the agent started (<c>xid_CODE</c>).</summary>
    private IEnumerable<Measurement<long>> ObserveErrors()
    {
        foreach ((MetricDescriptor metric, string type) in new[] { (GpuMetrics.EccCorrectedAggregate, "corrected"), (GpuMetrics.EccUncorrectedAggregate, "uncorrected") })
        {
            foreach (Reading r in Readings(metric))
            {
                yield return new Measurement<long>((long)r.Value, [.. _device[r.Device], new("error.type", type)]);
            }
        }

        foreach (Reading r in Readings(GpuMetrics.XidCount))
        {
            yield return new Measurement<long>((long)r.Value, [.. _device[r.Device], new("error.type", "xid_" + r.LabelValue)]);
        }
    }

    private IEnumerable<Measurement<long>> ObserveStatus()
    {
        for (int d = 0; d < _store.Devices.Count; d++)
        {
            bool up = _store.IsUp(d);
            yield return new Measurement<long>(up ? 1 : 0, [.. _device[d], new("hw.state", "ok")]);
            yield return new Measurement<long>(up ? 0 : 1, [.. _device[d], new("hw.state", "failed")]);
        }
    }

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

    private IEnumerable<Measurement<double>> Device(MetricDescriptor metric, Func<double, double> value)
    {
        foreach (Reading r in Readings(metric))
        {
            yield return new Measurement<double>(value(r.Value), _device[r.Device]);
        }
    }

    private IEnumerable<Measurement<long>> Host(MetricDescriptor metric)
    {
        foreach (Reading r in Readings(metric))
        {
            yield return new Measurement<long>((long)r.Value);
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
