using System.Diagnostics.Metrics;
using Gputel.Profiler.Memory;
using Gputel.Profiler.Telemetry;

namespace Gputel.Profiler.Tests.Telemetry;

/// <summary>The live training gauges, read the way an exporter reads them.</summary>
public sealed class TrainingTelemetryTests
{
    [Fact]
    public void Peak_gauges_add_up_to_the_phase_peak_and_end_gauges_to_its_end()
    {
        string run = $"telemetry-{Guid.NewGuid():N}";
        using var telemetry = new TrainingTelemetry(run);
        long[] bytes = new long[MemoryCategoryNames.All.Count];
        bytes[(int)MemoryCategory.Weights] = 600;
        bytes[(int)MemoryCategory.Gradients] = 300;
        bytes[(int)MemoryCategory.Runtime] = 100;
        // Backward ends at 1000 after a peak of 1500 at its start; 200 of it were temporaries.
        bytes[(int)MemoryCategory.Temporary] = 200;
        telemetry.Record(new MemorySnapshot(3, "backward", bytes, 1000, 1500, 0.1));

        var sums = new Dictionary<string, long>();
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
            if (tags.ToArray().Any(t => t.Key == "run" && (string?)t.Value == run))
            {
                sums[instrument.Name] = sums.GetValueOrDefault(instrument.Name) + value;
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();

        Assert.Equal(1500, sums["training_memory_peak_bytes"]);
        // The end gauges carry the snapshot as recorded: its end total plus the temporaries it saw.
        Assert.Equal(1200, sums["training_memory_bytes"]);
    }
}
