using System.Globalization;
using Gputel.Collector.Collectors;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Store;
using Prometheus;

namespace Gputel.Collector.Exposition;

/// <summary>Facts about the running agent that the exposition reports as self metrics.</summary>
/// <param name="Hostname">The <c>hostname</c> label.</param>
/// <param name="DriverVersion">The NVIDIA driver version, or empty.</param>
/// <param name="NvmlAvailable">Whether NVML could be used.</param>
/// <param name="SlowInterval">The regular sampling interval, to tell a stalled collector from a slow one.</param>
/// <param name="Version">The agent's version.</param>
public sealed record AgentInfo(string Hostname, string DriverVersion, bool NvmlAvailable, TimeSpan SlowInterval, string Version);

/// <summary>
/// Serves the store through a prometheus-net registry. Values are copied from the store just
/// before each render (a before-collect callback), which only reads memory: a scrape never calls
/// NVML and never waits for a sampler. Series of processes or readings that went away are removed.
/// A rendered body is kept and served to every scrape until the store changes
/// (<see cref="SampleStore.Version"/>), so many scrapers cost one render per sample, not one per
/// scrape.
/// </summary>
public sealed class PrometheusExposition
{
    private readonly SampleStore _store;
    private readonly AgentInfo _info;
    private readonly LabelSchema _labels;
    private readonly MetricFactory _factory;
    private readonly Dictionary<string, Family> _families = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, int, string?, MigInstance?), Series> _deviceSeries = [];
    private readonly Dictionary<(int, int, string, string), Series> _processSeries = [];
    private readonly Lock _gate = new();
    private readonly System.Collections.Concurrent.ConcurrentBag<MemoryStream> _buffers = [];
    private readonly SemaphoreSlim _render = new(1, 1);
    private RenderedExposition? _current;
    private bool _peakPending;
    private long _renders;
    private readonly Gauge _success;
    private readonly Gauge _duration;
    private readonly Gauge _readingsFailed;
    private readonly Gauge _lag;
    private readonly RuntimeMetrics? _runtime;
    private readonly long _createdAt = Environment.TickCount64;
    private int _generation;
    private CollectorResult?[,]? _results;
    private bool[]? _up;

    /// <summary>Creates the exposition over <paramref name="store"/> in <paramref name="profile"/>.</summary>
    public PrometheusExposition(SampleStore store, NamingProfile profile, AgentInfo info, bool includeRuntimeMetrics = true)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(info);
        _store = store;
        _info = info;
        Profile = profile;
        _labels = new LabelSchema(profile, store.Devices, info.Hostname, info.DriverVersion);
        Registry = Metrics.NewCustomRegistry();
        _factory = Metrics.WithCustomRegistry(Registry);

        _success = _factory.CreateGauge("telemetry_collector_success", "1 when the collector's last run on every device that is up completed, with no reading failed, and is recent, else 0.", ["collector"]);
        _readingsFailed = _factory.CreateGauge("telemetry_collector_readings_failed", "Readings that failed in the collector's last run, summed over devices; the collector's other readings are served.", ["collector"]);
        _duration = _factory.CreateGauge("telemetry_collector_duration_seconds", "Duration of the collector's last run, summed over devices, in seconds.", ["collector"]);
        _lag = _factory.CreateGauge("telemetry_sample_lag_seconds", "How late the last high-frequency memory sample started, worst device, in seconds.");
        _factory.CreateGauge("telemetry_nvml_available", "1 when an NVIDIA driver (NVML) is loaded, 0 when the agent serves host and self metrics only.")
            .Set(info.NvmlAvailable ? 1 : 0);
        _factory.CreateGauge("telemetry_gpus", "GPUs found at start-up.").Set(store.Devices.Count);
        _factory.CreateGauge("telemetry_build_info", "Agent version and NVIDIA driver version; always 1.", ["version", "driver_version"])
            .WithLabels(info.Version, info.DriverVersion).Set(1);
        _runtime = includeRuntimeMetrics ? new RuntimeMetrics(_factory) : null;

        Registry.AddBeforeCollectCallback(Update);
    }

    /// <summary>The naming profile in use.</summary>
    public NamingProfile Profile { get; }

    /// <summary>The registry to serve (e.g. through <c>MapMetrics</c> or <see cref="WriteAsync"/>).</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>
    /// How long a body may be served while the store stays unchanged. The self metrics (a stuck
    /// collector's success, the agent's own CPU and memory) change with time alone; they are at
    /// most this old.
    /// </summary>
    public static TimeSpan MaxAge { get; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Writes the exposition in the Prometheus text format (0.0.4). OpenMetrics is not offered:
    /// it would append <c>_total</c> to dcgm-exporter's counter names and break dcgm compatibility.
    /// </summary>
    public async Task WriteAsync(Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using ExpositionLease lease = await AcquireAsync(ExpositionEncoding.Identity, cancellationToken).ConfigureAwait(false);
        // One write of the whole body: into a network stream each small piece would cost a trip
        // through the server's pipeline.
        await destination.WriteAsync(lease.Body, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The current body in the Prometheus text format (0.0.4), in <paramref name="encoding"/>:
    /// the bytes rendered for an earlier scrape while the store has not changed since (and they
    /// are under <see cref="MaxAge"/> old), else rendered now, once for all the scrapes that wait.
    /// Dispose the lease when its bytes have been written.
    /// </summary>
    public async ValueTask<ExpositionLease> AcquireAsync(ExpositionEncoding encoding, CancellationToken cancellationToken = default)
    {
        RenderedExposition? current = Volatile.Read(ref _current);
        if (current is not null && (encoding == ExpositionEncoding.Identity || current.HasGzip) && IsCurrent(current) && current.TryAcquire())
        {
            return new ExpositionLease(current, encoding);
        }

        await _render.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            current = _current;
            if (current is null || !IsCurrent(current))
            {
                RenderedExposition next = await RenderAsync().ConfigureAwait(false);
                Volatile.Write(ref _current, next);
                // The exposition's own reference; scrapes still writing it hold theirs.
                current?.Release();
                current = next;
            }

            if (encoding == ExpositionEncoding.Gzip)
            {
                current.Compress();
            }

            // Cannot fail: the exposition's reference keeps the current body alive.
            current.TryAcquire();
            return new ExpositionLease(current, encoding);
        }
        finally
        {
            _render.Release();
        }
    }

    /// <summary>How many bodies have been rendered, to tell a served copy from a new render.</summary>
    internal long Renders => Volatile.Read(ref _renders);

    private bool IsCurrent(RenderedExposition rendered) =>
        !rendered.PeakPending
        && rendered.StoreVersion == _store.Version
        && Environment.TickCount64 - rendered.RenderedAt < (long)MaxAge.TotalMilliseconds;

    private async Task<RenderedExposition> RenderAsync()
    {
        // The version first: a change while rendering then makes the next scrape render again.
        long version = _store.Version;
        Interlocked.Increment(ref _renders);
        long at = Environment.TickCount64;
        MemoryStream text = RenderedExposition.Rent(_buffers);
        // Into memory, so not cancelled by one scraper going away: the others wait for this body.
        await Registry.CollectAndExportAsTextAsync(text, ExpositionFormat.PrometheusText, CancellationToken.None).ConfigureAwait(false);
        bool peakPending;
        lock (_gate)
        {
            peakPending = _peakPending;
        }

        return new RenderedExposition(_buffers, text, version, at, peakPending);
    }

    /// <summary>Copies the store into the registry; called by prometheus-net before each collection.</summary>
    internal void Update()
    {
        lock (_gate)
        {
            _generation++;
            _peakPending = false;
            // One read of every collector's latest result and of each device's state serves both the
            // readings and the success gauges: read twice, a run finishing in between could show
            // success beside the failed run's missing values. The buffers are reused (under _gate).
            CollectorResult?[,] results = _results ??= new CollectorResult?[_store.CollectorNames.Count, _store.HostSlot + 1];
            bool[] up = _up ??= new bool[_store.HostSlot];
            for (int slot = 0; slot < up.Length; slot++)
            {
                up[slot] = _store.IsUp(slot);
            }

            for (int c = 0; c < results.GetLength(0); c++)
            {
                for (int slot = 0; slot < results.GetLength(1); slot++)
                {
                    results[c, slot] = _store.Get(c, slot);
                }
            }

            UpdateMemory(up);
            UpdateReadings(results, up);
            RemoveStale();
            UpdateSelf(results, up);
            _runtime?.Update();
        }
    }

    private void UpdateMemory(bool[] up)
    {
        for (int d = 0; d < _store.Devices.Count; d++)
        {
            GpuDevice device = _store.Devices[d];
            Set(new Reading(GpuMetrics.Up, d, up[d] ? 1 : 0));
            // Closing the window here is what makes the peak "since the previous scrape".
            if (_store.Memory(d).TryRead(closeWindow: true, out MemoryInfo memory, out ulong peak))
            {
                SetMemory(d, null, memory, peak);
            }

            for (int m = 0; m < device.MigInstances.Count; m++)
            {
                if (_store.MigMemory(d, m).TryRead(closeWindow: true, out MemoryInfo mig, out ulong migPeak))
                {
                    SetMemory(d, device.MigInstances[m], mig, migPeak);
                }
            }
        }
    }

    private void SetMemory(int device, MigInstance? mig, MemoryInfo memory, ulong peak)
    {
        // Its window is closed now: with no new sample the next read says the last sample.
        _peakPending |= peak != memory.Used;
        Set(new Reading(GpuMetrics.MemoryTotal, device, memory.Total, MigInstance: mig));
        Set(new Reading(GpuMetrics.MemoryUsed, device, memory.Used, MigInstance: mig));
        Set(new Reading(GpuMetrics.MemoryFree, device, memory.Free, MigInstance: mig));
        if (memory.Reserved is { } reserved)
        {
            // Drivers before R510 do not tell it: no series rather than a made-up 0.
            Set(new Reading(GpuMetrics.MemoryReserved, device, reserved, MigInstance: mig));
        }

        Set(new Reading(GpuMetrics.MemoryUsedPeak, device, peak, MigInstance: mig));
    }

    private void UpdateReadings(CollectorResult?[,] results, bool[] up)
    {
        for (int c = 0; c < _store.CollectorNames.Count; c++)
        {
            for (int slot = 0; slot <= _store.HostSlot; slot++)
            {
                CollectorResult? result = results[c, slot];
                if (result is null || (slot < _store.HostSlot && !up[slot]))
                {
                    continue;
                }

                foreach (Reading reading in result.Readings)
                {
                    Set(reading);
                }

                foreach (ProcessReading process in result.Processes)
                {
                    SetProcess(process);
                }
            }
        }
    }

    private void Set(in Reading reading)
    {
        MetricDescriptor metric = reading.Metric;
        string? name = Profile == NamingProfile.Dcgm ? metric.Dcgm?.Name ?? metric.Name : metric.Name;
        if (name is null)
        {
            return;
        }

        var key = (name, reading.Device, reading.LabelValue ?? metric.LabelValue, reading.MigInstance);
        if (!_deviceSeries.TryGetValue(key, out Series? series))
        {
            Family family = GetFamily(name, metric, reading.Device < 0);
            series = new Series(family, _labels.ValuesFor(reading));
            _deviceSeries[key] = series;
        }

        series.Set(Profile == NamingProfile.Dcgm && metric.Dcgm is { } dcgm ? dcgm.Value(reading.Value) : reading.Value, _generation);
    }

    private void SetProcess(in ProcessReading p)
    {
        var key = (p.Device, p.Pid, p.Command, p.ContainerId);
        if (!_processSeries.TryGetValue(key, out Series? series))
        {
            // The dcgm profile gives every series its device labels (UUID, not uuid), so a process's
            // memory joins the DCGM_FI_* series on them; the default profile keeps the GPU's index
            // and uuid, which its device series also carry.
            bool dcgm = Profile == NamingProfile.Dcgm;
            Family family = _families.TryGetValue(ProcessFamily, out Family? f) ? f : AddFamily(
                ProcessFamily, "GPU memory used by a process, in bytes.", MetricKind.Gauge,
                [.. dcgm ? _labels.DeviceNames : ["gpu", "uuid"], "pid", "command", "container_id", "pod", "namespace", "pod_uid"]);
            GpuDevice device = _store.Devices[p.Device];
            string[] deviceValues = dcgm ? _labels.DeviceValues(p.Device) : [device.Index.ToString(CultureInfo.InvariantCulture), device.Uuid];
            series = new Series(family, [
                .. deviceValues, p.Pid.ToString(CultureInfo.InvariantCulture),
                p.Command, p.ContainerId, p.Pod, p.Namespace, p.PodUid]);
            _processSeries[key] = series;
        }

        series.Set(p.UsedBytes, _generation);
    }

    private const string ProcessFamily = "gpu_process_memory_used_bytes";

    private Family GetFamily(string name, MetricDescriptor metric, bool host)
    {
        if (_families.TryGetValue(name, out Family? family))
        {
            return family;
        }

        bool dcgm = Profile == NamingProfile.Dcgm && metric.Dcgm is not null;
        return AddFamily(name, dcgm ? metric.Dcgm!.Help : metric.Help, dcgm ? metric.Dcgm!.Kind : metric.Kind, _labels.NamesFor(metric, host));
    }

    private Family AddFamily(string name, string help, MetricKind kind, string[] labelNames)
    {
        var family = new Family(kind == MetricKind.Counter
            ? _factory.CreateCounter(name, help, labelNames)
            : _factory.CreateGauge(name, help, labelNames));
        _families[name] = family;
        return family;
    }

    private void RemoveStale()
    {
        RemoveStale(_deviceSeries);
        RemoveStale(_processSeries);
    }

    private void RemoveStale<TKey>(Dictionary<TKey, Series> series)
        where TKey : notnull
    {
        List<TKey>? stale = null;
        foreach ((TKey key, Series s) in series)
        {
            if (s.Generation != _generation)
            {
                (stale ??= []).Add(key);
            }
        }

        foreach (TKey key in stale ?? [])
        {
            series[key].Remove();
            series.Remove(key);
        }
    }

    private void UpdateSelf(CollectorResult?[,] results, bool[] up)
    {
        long now = Environment.TickCount64;
        // A collector that has not finished a run for this long is stuck (a hung driver call).
        long staleAfter = (long)Math.Max(3 * _info.SlowInterval.TotalMilliseconds, 5000);
        for (int c = 0; c < _store.CollectorNames.Count; c++)
        {
            bool any = false, ok = true;
            double seconds = 0, failed = 0;
            bool perDevice = !CollectorCatalog.IsHostWide(_store.CollectorNames[c]);
            for (int slot = 0; slot <= _store.HostSlot; slot++)
            {
                // A lost GPU is told by gpu_up; its runs stop or age, which says nothing of the collector.
                if (perDevice && slot < _store.HostSlot && !up[slot])
                {
                    any = true;
                    continue;
                }

                CollectorResult? result = results[c, slot];
                if (result is null)
                {
                    // A call that hangs from the very first run never publishes a result: after the
                    // same grace period, a device that is up but still has none counts as stuck.
                    if (perDevice && slot < _store.HostSlot && up[slot] && now - _createdAt > staleAfter)
                    {
                        any = true;
                        ok = false;
                    }

                    continue;
                }

                any = true;
                seconds += result.DurationSeconds;
                failed += result.FailedReadings;
                ok &= result.Complete && now - result.CompletedAt <= staleAfter;
            }

            if (any)
            {
                _success.WithLabels(_store.CollectorNames[c]).Set(ok ? 1 : 0);
                _duration.WithLabels(_store.CollectorNames[c]).Set(seconds);
                _readingsFailed.WithLabels(_store.CollectorNames[c]).Set(failed);
            }
        }

        _lag.Set(_store.MaxLag.TotalSeconds);
    }

    private sealed class Family(Prometheus.Collector collector)
    {
        public Prometheus.Collector Collector { get; } = collector;
    }

    /// <summary>One labelled series and the generation it was last set in.</summary>
    private sealed class Series
    {
        private readonly Family _family;
        private readonly string[] _labels;
        private readonly Gauge.Child? _gauge;
        private readonly Counter.Child? _counter;

        public Series(Family family, string[] labels)
        {
            _family = family;
            _labels = labels;
            if (family.Collector is Gauge gauge)
            {
                _gauge = gauge.WithLabels(labels);
            }
            else
            {
                _counter = ((Counter)family.Collector).WithLabels(labels);
            }
        }

        public int Generation { get; private set; }

        public void Set(double value, int generation)
        {
            Generation = generation;
            if (_gauge is not null)
            {
                _gauge.Set(value);
            }
            else
            {
                // Counters only go up; a driver reload that resets NVML's total is held at the old value.
                _counter!.IncTo(value);
            }
        }

        public void Remove()
        {
            if (_family.Collector is Gauge gauge)
            {
                gauge.RemoveLabelled(_labels);
            }
            else
            {
                ((Counter)_family.Collector).RemoveLabelled(_labels);
            }
        }
    }
}
