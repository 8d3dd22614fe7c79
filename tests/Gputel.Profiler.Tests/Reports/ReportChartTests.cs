using Gputel.Core.Memory;
using Gputel.Core.Records;
using Gputel.Core.Reports;
using Gputel.Core.Training;
using Gputel.Profiler.Records;

namespace Gputel.Profiler.Tests.Reports;

/// <summary>The chart's series: samples placed in their phases, and long runs thinned without losing their peaks.</summary>
public sealed class ReportChartTests : IDisposable
{
    private const long MiB = 1024 * 1024;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gputel-chart-" + Guid.NewGuid().ToString("N"));

    private static StepLine Line(int step, string phase, double endSeconds, double seconds, long weights) =>
        new(DateTimeOffset.UnixEpoch.AddSeconds(endSeconds), step, Phase.Parse(phase), seconds, new Dictionary<string, long> { ["weights"] = weights }, weights, weights, null);

    [Fact]
    public void Samples_land_inside_the_phase_they_were_taken_in()
    {
        // Phase 0 runs from 1 s to 3 s, phase 1 from 4 s to 5 s (a gap of 1 s between them).
        StepLine[] steps = [Line(0, "forward", 3, 2, 1), Line(0, "backward", 5, 1, 1)];
        long[] ends = steps.Select(s => s.Time.UtcTicks).ToArray();
        double? At(double seconds) => ChartSeries.Position(DateTimeOffset.UnixEpoch.AddSeconds(seconds).UtcTicks, ends, steps);

        Assert.Null(At(0.5)); // before training: set-up is not on the chart
        Assert.Equal(0.0, At(1));
        Assert.Equal(0.5, At(2));
        Assert.Equal(1.0, At(3.5)); // between phases: on the boundary
        Assert.Equal(1.5, At(4.5));
        Assert.Equal(2.0, At(5));
        Assert.Null(At(6)); // after the last phase
    }

    [Fact]
    public void A_long_run_is_thinned_but_keeps_its_highest_phase_and_sample()
    {
        var info = new RunInfo("long", "tiny", "lora", "fp32", ComputeDevice.Cuda(0), DateTimeOffset.UnixEpoch, new Dictionary<string, string>(), new Dictionary<string, string>());
        using (var writer = new RunRecordWriter(_dir, info))
        {
            for (int i = 0; i < 5000; i++)
            {
                long[] bytes = new long[MemoryCategories.All.Count];
                bytes[(int)MemoryCategory.Weights] = (i == 3217 ? 900 : 100) * MiB;
                writer.WriteStep(new MemorySnapshot(i / 4, Phase.All[i % 4], bytes, bytes[0], bytes[0], 1), time: DateTimeOffset.UnixEpoch.AddSeconds(i + 1));
            }

            for (int i = 0; i < 20_000; i++)
            {
                long used = i == 7777 ? 2000 * MiB : i == 7778 ? 10 * MiB : 500 * MiB;
                writer.WriteSample(new SampleLine(DateTimeOffset.UnixEpoch.AddSeconds(i / 4.0), 0, used, used));
            }
        }

        var chart = ChartSeries.From(RunRecordReader.Read(_dir));

        Assert.True(chart.Bands.Count <= ChartSeries.MaxBands, $"{chart.Bands.Count} bands");
        Assert.Equal(900 * MiB, chart.Bands.Max(b => b.Tops[^1]));
        Assert.Contains(chart.Bands, b => b.X0 <= 3217 && 3217 < b.X1 && b.Memory.Step == 3217 / 4);
        Assert.True(chart.Line.Count <= 2 * ChartSeries.LineColumns, $"{chart.Line.Count} points");
        Assert.Equal(2000 * MiB, chart.Line.Max(p => p.Y));
        Assert.Equal(10 * MiB, chart.Line.Min(p => p.Y));
        Assert.Equal(2000 * MiB, chart.YMax);
        Assert.True(chart.Line.Zip(chart.Line.Skip(1)).All(p => p.First.X <= p.Second.X), "the line runs left to right");
    }

    [Theory]
    [InlineData("1 2 3 4 5 6 7", 2L)]
    [InlineData("12 3452 0 0 0 0", 3452L)]
    [InlineData("", null)]
    [InlineData("12", null)]
    public void Resident_pages_are_the_second_field_of_statm(string statm, long? pages) =>
        Assert.Equal(pages, HostSampler.ParseResidentPages(statm));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
