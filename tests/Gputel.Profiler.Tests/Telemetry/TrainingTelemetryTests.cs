using System.Diagnostics.Metrics;
using Gputel.Core.Memory;
using Gputel.Core.Training;
using Gputel.Profiler.Telemetry;

namespace Gputel.Profiler.Tests.Telemetry;

/// <summary>The live training gauges, read the way an exporter reads them.</summary>
public sealed class TrainingTelemetryTests
{
    private static long[] Bytes(params (MemoryCategory Category, long Bytes)[] figures)
    {
        long[] bytes = new long[MemoryCategories.All.Count];
        foreach ((MemoryCategory category, long value) in figures)
        {
            bytes[(int)category] = value;
        }

        return bytes;
    }

    /// <summary>Every gauge of the run, by instrument, phase and category.</summary>
    private static Dictionary<(string Name, string Phase, string Category), long> Read(string run)
    {
        var values = new Dictionary<(string, string, string), long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == TrainingTelemetry.SourceName && instrument.Name.StartsWith("training_memory", StringComparison.Ordinal))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            KeyValuePair<string, object?>[] all = tags.ToArray();
            if (all.Any(t => t.Key == "run" && (string?)t.Value == run))
            {
                string phase = (string)all.Single(t => t.Key == "phase").Value!;
                string category = (string)all.Single(t => t.Key == "category").Value!;
                values[(instrument.Name, phase, category)] = value;
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return values;
    }

    private static long Sum(Dictionary<(string Name, string Phase, string Category), long> values, string name, string phase) =>
        values.Where(kv => kv.Key.Name == name && kv.Key.Phase == phase).Sum(kv => kv.Value);

    [Fact]
    public void Peak_gauges_add_up_to_the_phase_peak_and_end_gauges_to_its_end()
    {
        string run = $"telemetry-{Guid.NewGuid():N}";
        using var telemetry = new TrainingTelemetry(run);
        // Backward ends at 1000 after a peak of 1500 at its start; 200 of it were temporaries. No
        // phase of its step was recorded before it, so its peak stands on its end.
        telemetry.Record(new MemorySnapshot(3, Phase.Backward, Bytes(
            (MemoryCategory.Weights, 600), (MemoryCategory.Gradients, 300), (MemoryCategory.Runtime, 100), (MemoryCategory.Temporary, 200)), 1000, 1500, 0.1));

        var values = Read(run);

        Assert.Equal(1500, Sum(values, "training_memory_peak_bytes", "backward"));
        Assert.Equal(500, values[("training_memory_peak_bytes", "backward", "temporary")]);
        // The end gauges carry the snapshot as recorded: its end total plus the temporaries it saw.
        Assert.Equal(1200, Sum(values, "training_memory_bytes", "backward"));
    }

    [Fact]
    public void A_backward_peak_is_shown_on_what_the_pass_began_with()
    {
        string run = $"telemetry-{Guid.NewGuid():N}";
        using var telemetry = new TrainingTelemetry(run);
        // Forward ends at 1400 with 700 of activations; backward begins there, rises 100 above it,
        // and ends at 1000 with the activations freed and 300 of gradients made.
        telemetry.Record(new MemorySnapshot(3, Phase.Forward, Bytes(
            (MemoryCategory.Weights, 600), (MemoryCategory.Activations, 700), (MemoryCategory.Runtime, 100)), 1400, 1400, 0.1));
        telemetry.Record(new MemorySnapshot(3, Phase.Backward, Bytes(
            (MemoryCategory.Weights, 600), (MemoryCategory.Gradients, 300), (MemoryCategory.Runtime, 100), (MemoryCategory.Temporary, 100)), 1000, 1500, 0.1));
        // The next step's forward begins after a new batch, not where the last phase ended: its
        // peak stands on its own end even though the phase before it ended higher.
        telemetry.Record(new MemorySnapshot(4, Phase.Forward, Bytes(
            (MemoryCategory.Weights, 600), (MemoryCategory.Activations, 200), (MemoryCategory.Runtime, 100)), 900, 950, 0.1));

        var values = Read(run);

        Assert.Equal(700, values[("training_memory_peak_bytes", "backward", "activations")]);
        Assert.Equal(0, values[("training_memory_peak_bytes", "backward", "gradients")]);
        Assert.Equal(100, values[("training_memory_peak_bytes", "backward", "temporary")]);
        Assert.Equal(1500, Sum(values, "training_memory_peak_bytes", "backward"));
        // The end gauges are the end of backward, as recorded.
        Assert.Equal(0, values[("training_memory_bytes", "backward", "activations")]);
        Assert.Equal(300, values[("training_memory_bytes", "backward", "gradients")]);
        Assert.Equal(200, values[("training_memory_peak_bytes", "forward", "activations")]);
        Assert.Equal(50, values[("training_memory_peak_bytes", "forward", "temporary")]);
        Assert.Equal(950, Sum(values, "training_memory_peak_bytes", "forward"));
    }
}
