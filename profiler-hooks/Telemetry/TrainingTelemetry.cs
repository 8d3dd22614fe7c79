using System.Diagnostics;
using System.Diagnostics.Metrics;
using Gputel.Core.Memory;
using Gputel.Core.Training;

namespace Gputel.Profiler.Telemetry;

/// <summary>
/// Live training gauges (System.Diagnostics.Metrics) and phase spans (ActivitySource), for any
/// exporter the host wires. The same values come from two meters: <see cref="SourceName"/> with the
/// Prometheus names of docs/METRICS.md (<c>training_memory_bytes{category}</c>), and
/// <see cref="OpenTelemetryMeterName"/> with OpenTelemetry names for OTLP
/// (<c>training.memory.usage{memory.category}</c>): a View can rename an instrument but not its
/// attributes. The gauges are observable: they read the latest snapshot when collected and cost
/// nothing in between.
/// </summary>
public sealed class TrainingTelemetry : IDisposable
{
    /// <summary>Name of the Prometheus-named meter and of the activity source.</summary>
    public const string SourceName = "Gputel.Training";

    /// <summary>Name of the meter with OpenTelemetry names and attributes.</summary>
    public const string OpenTelemetryMeterName = "Gputel.Training.OpenTelemetry";

    private readonly Meter _meter = new(SourceName);
    private readonly Meter _otelMeter = new(OpenTelemetryMeterName);
    private readonly Counter<long> _steps;
    private readonly Histogram<double> _stepSeconds;
    private readonly Counter<long> _otelSteps;
    private readonly Histogram<double> _otelStepDuration;
    private readonly KeyValuePair<string, object?> _otelRun;
    private readonly KeyValuePair<string, object?> _otelPid = new("process.pid", Environment.ProcessId);
    private readonly Lock _gate = new();
    // Each phase's last snapshot, with its categories as at its peak (MemorySnapshot.BytesAtPeak).
    private readonly Dictionary<Phase, (MemorySnapshot Snapshot, long[] AtPeak)> _latestByPhase = [];
    private MemorySnapshot? _last;
    private readonly KeyValuePair<string, object?> _run;
    private readonly KeyValuePair<string, object?> _pid = new("pid", Environment.ProcessId);
    private double? _loss;

    /// <summary>Spans of training phases (<c>forward</c>, <c>backward</c>, ...), one per phase per step.</summary>
    public static ActivitySource Activities { get; } = new(SourceName);

    /// <summary>
    /// Raised when a run's telemetry is disposed, just before its meters go: the gauges still read
    /// the run's last values, so an exporter flushes here and a run shorter than the export
    /// interval is still reported.
    /// </summary>
    public static event EventHandler? Completing;

    /// <summary>Creates the instruments for the run <paramref name="runId"/>.</summary>
    public TrainingTelemetry(string runId)
    {
        _run = new("run", runId);
        _meter.CreateObservableGauge("training_memory_bytes", () => Observe(peak: false), "By", "Memory by category at the end of the last phase of each kind.");
        _meter.CreateObservableGauge("training_memory_peak_bytes", () => Observe(peak: true), "By", "Peak memory inside the last phase of each kind, by category.");
        _meter.CreateObservableGauge("training_loss", ObserveLoss, description: "Loss of the last step.");
        _steps = _meter.CreateCounter<long>("training_steps_total", description: "Completed training steps.");
        _stepSeconds = _meter.CreateHistogram<double>("training_step_seconds", "s", "Duration of training steps.");

        _otelRun = new("training.run.id", runId);
        _otelMeter.CreateObservableUpDownCounter("training.memory.usage", () => ObserveOpenTelemetry(peak: false), "By", "Memory by category at the end of the last phase of each kind.");
        _otelMeter.CreateObservableGauge("training.memory.peak", () => ObserveOpenTelemetry(peak: true), "By", "Peak memory inside the last phase of each kind, by category.");
        _otelMeter.CreateObservableGauge("training.loss", () => ObserveLoss().Select(m => new Measurement<double>(m.Value, _otelRun, _otelPid)), "1", "Loss of the last step.");
        _otelSteps = _otelMeter.CreateCounter<long>("training.steps", "{step}", "Completed training steps.");
        _otelStepDuration = _otelMeter.CreateHistogram<double>("training.step.duration", "s", "Duration of training steps.");
    }

    /// <summary>Starts the span of one phase; dispose it when the phase ends.</summary>
    public static Activity? StartPhase(int step, Phase phase)
    {
        Activity? activity = Activities.StartActivity(phase.Name);
        activity?.SetTag("training.step", step);
        return activity;
    }

    /// <summary>
    /// Publishes a phase's snapshot. Call it for every phase, in the order they ran: the peak gauges
    /// show a phase's categories as at its peak, which for a phase that began where the last one
    /// ended and then fell (backward) are that last phase's (<see cref="MemorySnapshot.BytesAtPeak"/>).
    /// </summary>
    public void Record(MemorySnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        lock (_gate)
        {
            _latestByPhase[snapshot.Phase] = (snapshot, snapshot.BytesAtPeak(_last));
            _last = snapshot;
        }
    }

    /// <summary>Publishes a completed step.</summary>
    public void CompleteStep(double seconds, double? loss)
    {
        _steps.Add(1, _run, _pid);
        _stepSeconds.Record(seconds, _run, _pid);
        _otelSteps.Add(1, _otelRun, _otelPid);
        _otelStepDuration.Record(seconds, _otelRun, _otelPid);
        lock (_gate)
        {
            _loss = loss;
        }
    }

    private IEnumerable<Measurement<long>> Observe(bool peak) =>
        Values(peak).Select(v => new Measurement<long>(v.Bytes, new("category", v.Category), new("phase", v.Phase), _run, _pid));

    private IEnumerable<Measurement<long>> ObserveOpenTelemetry(bool peak) =>
        Values(peak).Select(v => new Measurement<long>(v.Bytes, new("memory.category", v.Category), new("training.phase", v.Phase), _otelRun, _otelPid));

    private IEnumerable<(long Bytes, string Category, string Phase)> Values(bool peak)
    {
        (MemorySnapshot Snapshot, long[] AtPeak)[] snapshots;
        lock (_gate)
        {
            snapshots = [.. _latestByPhase.Values];
        }

        foreach ((MemorySnapshot s, long[] atPeak) in snapshots)
        {
            foreach (MemoryCategory category in MemoryCategories.All)
            {
                // At the peak the categories add up to it, as the report shows them.
                yield return (peak ? atPeak[(int)category] : s[category], category.ToName(), s.Phase.Name);
            }
        }
    }

    private IEnumerable<Measurement<double>> ObserveLoss()
    {
        double? loss;
        lock (_gate)
        {
            loss = _loss;
        }

        if (loss is { } value)
        {
            yield return new Measurement<double>(value, _run, _pid);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Completing?.Invoke(this, EventArgs.Empty);
        _meter.Dispose();
        _otelMeter.Dispose();
    }
}
