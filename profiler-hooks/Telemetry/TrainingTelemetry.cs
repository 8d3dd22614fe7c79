using System.Diagnostics;
using System.Diagnostics.Metrics;
using Gputel.Profiler.Memory;

namespace Gputel.Profiler.Telemetry;

/// <summary>
/// Live training gauges (System.Diagnostics.Metrics, names per DESIGN.md) and phase spans
/// (ActivitySource), for any exporter the host wires: Prometheus, OTLP. The gauges are observable:
/// they read the latest snapshot when collected and cost nothing in between.
/// </summary>
public sealed class TrainingTelemetry : IDisposable
{
    /// <summary>Name of the meter and of the activity source.</summary>
    public const string SourceName = "Gputel.Training";

    private readonly Meter _meter = new(SourceName);
    private readonly Counter<long> _steps;
    private readonly Histogram<double> _stepSeconds;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, MemorySnapshot> _latestByPhase = [];
    private readonly KeyValuePair<string, object?> _run;
    private readonly KeyValuePair<string, object?> _pid = new("pid", Environment.ProcessId);
    private double? _loss;

    /// <summary>Spans of training phases (<c>forward</c>, <c>backward</c>, ...), one per phase per step.</summary>
    public static ActivitySource Activities { get; } = new(SourceName);

    /// <summary>Creates the instruments for the run <paramref name="runId"/>.</summary>
    public TrainingTelemetry(string runId)
    {
        _run = new("run", runId);
        _meter.CreateObservableGauge("training_memory_bytes", () => Observe(peak: false), "By", "Memory by category at the end of the last phase of each kind.");
        _meter.CreateObservableGauge("training_memory_peak_bytes", () => Observe(peak: true), "By", "Peak memory inside the last phase of each kind, by category.");
        _meter.CreateObservableGauge("training_loss", ObserveLoss, description: "Loss of the last step.");
        _steps = _meter.CreateCounter<long>("training_steps_total", description: "Completed training steps.");
        _stepSeconds = _meter.CreateHistogram<double>("training_step_seconds", "s", "Duration of training steps.");
    }

    /// <summary>Starts the span of one phase; dispose it when the phase ends.</summary>
    public static Activity? StartPhase(int step, string phase)
    {
        Activity? activity = Activities.StartActivity(phase);
        activity?.SetTag("training.step", step);
        return activity;
    }

    /// <summary>Publishes a phase's snapshot.</summary>
    public void Record(MemorySnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        lock (_gate)
        {
            _latestByPhase[snapshot.Phase] = snapshot;
        }
    }

    /// <summary>Publishes a completed step.</summary>
    public void CompleteStep(double seconds, double? loss)
    {
        _steps.Add(1, _run, _pid);
        _stepSeconds.Record(seconds, _run, _pid);
        lock (_gate)
        {
            _loss = loss;
        }
    }

    private IEnumerable<Measurement<long>> Observe(bool peak)
    {
        MemorySnapshot[] snapshots;
        lock (_gate)
        {
            snapshots = [.. _latestByPhase.Values];
        }

        foreach (MemorySnapshot s in snapshots)
        {
            foreach (MemoryCategory category in MemoryCategoryNames.All)
            {
                // The peak above the end-of-phase total is the phase's temporary memory.
                long value = peak && category == MemoryCategory.Temporary ? s.PeakBytes - s.AllocatorBytes + s[category] : s[category];
                yield return new Measurement<long>(value, new("category", category.ToName()), new("phase", s.Phase), _run, _pid);
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
    public void Dispose() => _meter.Dispose();
}
