using System.Globalization;
using Gputel.Core.Memory;
using Gputel.Core.Records;
using Gputel.Core.Training;

namespace Gputel.Core.Reports;

/// <summary>One band of the stacked chart: a phase (or the highest phase of a run of them) drawn from <see cref="X0"/> to <see cref="X1"/>.</summary>
/// <param name="X0">Left edge, in phase lines from the start.</param>
/// <param name="X1">Right edge.</param>
/// <param name="Memory">The phase drawn.</param>
/// <param name="Tops">Cumulative height after each category of <see cref="ChartSeries.StackOrder"/>.</param>
/// <param name="Label">What the band shows, for a tooltip.</param>
internal sealed record ChartBand(double X0, double X1, PhaseMemory Memory, long[] Tops, string Label);

/// <summary>
/// The chart's data, shared by the HTML (SVG) and PNG drawings: stacked category bands over the
/// phases in order (x counts phase lines; each phase one unit wide) and the sampled line over them,
/// each placed inside the phase it was taken in. Long runs are thinned to at most
/// <see cref="MaxBands"/> bands (each keeps the highest phase of the ones it stands for) and
/// <see cref="LineColumns"/> columns of line (each keeps its lowest and highest sample), so peaks
/// stay visible at any length.
/// </summary>
internal sealed class ChartSeries
{
    public const int MaxBands = 600;
    public const int LineColumns = 1000;

    private ChartSeries(IReadOnlyList<string> stackOrder, List<ChartBand> bands, List<(double X, long Y)> line, double xMax, long yMax, List<(double X, int Step)> stepTicks)
    {
        StackOrder = stackOrder;
        Bands = bands;
        Line = line;
        XMax = xMax;
        YMax = yMax;
        StepTicks = stepTicks;
    }

    /// <summary>Categories bottom to top: the lasting ones first, temporary (the phase's peak above the end it stands on) on top.</summary>
    public IReadOnlyList<string> StackOrder { get; }

    public IReadOnlyList<ChartBand> Bands { get; }

    /// <summary>The sampled line, in x order, in bytes on the categories' scale.</summary>
    public IReadOnlyList<(double X, long Y)> Line { get; }

    public double XMax { get; }

    public long YMax { get; }

    /// <summary>Where each labelled step starts.</summary>
    public IReadOnlyList<(double X, int Step)> StepTicks { get; }

    public static ChartSeries From(RunRecordReader record)
    {
        ArgumentNullException.ThrowIfNull(record);
        IReadOnlyList<string> categories = RunAnalysis.Categories(record.Steps);
        string temporary = MemoryCategory.Temporary.ToName();
        string[] order = [.. StackFirst.Where(categories.Contains), .. categories.Where(c => !StackFirst.Contains(c) && c != temporary), temporary];

        IReadOnlyList<StepLine> steps = record.Steps;
        var bands = new List<ChartBand>();
        int per = Math.Max(1, (steps.Count + MaxBands - 1) / MaxBands);
        long yMax = 0;
        for (int first = 0; first < steps.Count; first += per)
        {
            int end = Math.Min(steps.Count, first + per);
            int bestIndex = first;
            long bestDrawn = long.MinValue;
            for (int i = first; i < end; i++)
            {
                long drawn = Drawn(steps, i, order);
                if (drawn > bestDrawn)
                {
                    (bestIndex, bestDrawn) = (i, drawn);
                }
            }

            PhaseMemory best = RunAnalysis.Memory(steps, bestIndex, categories);
            long[] tops = new long[order.Length];
            long sum = 0;
            for (int c = 0; c < order.Length; c++)
            {
                // Negative unattributed memory (the allocator reported less than the tensors) cannot
                // be stacked: it is drawn as nothing and shown with its sign in the tables.
                sum += Math.Max(0, best.Bytes[order[c]]);
                tops[c] = sum;
            }

            yMax = Math.Max(yMax, sum);
            string label = per == 1
                ? $"step {best.Step} {best.Phase}: {ByteText.Format(sum)}"
                : string.Create(CultureInfo.InvariantCulture, $"steps {steps[first].Step}-{steps[end - 1].Step}, highest: step {best.Step} {best.Phase}: {ByteText.Format(sum)}");
            bands.Add(new ChartBand(first, end, best, tops, label));
        }

        List<(double X, long Y)> line = SampledLine(record, steps);
        foreach ((double _, long y) in line)
        {
            yMax = Math.Max(yMax, y);
        }

        return new ChartSeries(order, bands, line, Math.Max(1, steps.Count), yMax, LabelledSteps(steps));
    }

    /// <summary>The colour of the sampled memory line drawn over the bands.</summary>
    internal const string LineColour = "#1f1f1f";

    // The table's stack order up to temporary, which tops every phase; a category the table lacks (a
    // newer record's) goes just below temporary.
    private static readonly string[] StackFirst =
        [.. MemoryCategories.Stacked.Where(c => c != MemoryCategory.Temporary).Select(c => c.ToName())];

    private static long Drawn(IReadOnlyList<StepLine> steps, int index, string[] order)
    {
        (StepLine basis, long temporary) = RunAnalysis.AtPeak(steps, index);
        long sum = 0;
        foreach (string category in order)
        {
            sum += Math.Max(0, RunAnalysis.Shown(basis, temporary, category));
        }

        return sum;
    }

    private static List<(double X, long Y)> SampledLine(RunRecordReader record, IReadOnlyList<StepLine> steps)
    {
        var line = new List<(double X, long Y)>();
        if (record.Samples.Count == 0 || steps.Count == 0)
        {
            return line;
        }

        int gpu = RunAnalysis.LineGpu(record.Samples);
        long offset = RunAnalysis.LineOffset(record.Info, gpu);
        long[] ends = steps.Select(s => s.Time.UtcTicks).ToArray();
        var columns = new (double MinX, long Min, double MaxX, long Max, bool Used)[LineColumns];
        double xMax = steps.Count;
        foreach (SampleLine sample in record.Samples)
        {
            if (sample.Gpu != gpu || Position(sample.Time.UtcTicks, ends, steps) is not { } x)
            {
                continue;
            }

            long y = RunAnalysis.LineFigure(sample) - offset;
            int column = Math.Clamp((int)(x / xMax * LineColumns), 0, LineColumns - 1);
            ref var c = ref columns[column];
            if (!c.Used)
            {
                c = (x, y, x, y, true);
                continue;
            }

            if (y < c.Min)
            {
                c.Min = y;
                c.MinX = x;
            }

            if (y > c.Max)
            {
                c.Max = y;
                c.MaxX = x;
            }
        }

        foreach (var c in columns)
        {
            if (!c.Used)
            {
                continue;
            }

            if (c.MinX == c.MaxX)
            {
                line.Add((c.MinX, c.Max));
            }
            else if (c.MinX < c.MaxX)
            {
                line.Add((c.MinX, c.Min));
                line.Add((c.MaxX, c.Max));
            }
            else
            {
                line.Add((c.MaxX, c.Max));
                line.Add((c.MinX, c.Min));
            }
        }

        return line;
    }

    /// <summary>
    /// Where a sample taken at <paramref name="ticks"/> goes on the x axis: inside the phase that was
    /// running, in proportion to the time into it; between phases, at the boundary; before the first
    /// phase or after the last, nowhere (set-up and tear-down are not on the chart).
    /// </summary>
    internal static double? Position(long ticks, long[] ends, IReadOnlyList<StepLine> steps)
    {
        int i = Array.BinarySearch(ends, ticks);
        if (i < 0)
        {
            i = ~i;
        }

        if (i >= ends.Length)
        {
            return null;
        }

        long duration = TimeSpan.FromSeconds(Math.Max(0, steps[i].Seconds)).Ticks;
        long start = ends[i] - duration;
        if (ticks < start)
        {
            return i == 0 ? null : i;
        }

        return duration == 0 ? i + 1 : i + ((double)(ticks - start) / duration);
    }

    private static List<(double X, int Step)> LabelledSteps(IReadOnlyList<StepLine> steps)
    {
        var starts = new List<(double X, int Step)>();
        for (int i = 0; i < steps.Count; i++)
        {
            if (i == 0 || steps[i].Step != steps[i - 1].Step)
            {
                starts.Add((i, steps[i].Step));
            }
        }

        int stride = NiceStride(starts.Count, 10);
        return starts.Where(s => s.Step % stride == 0).ToList();
    }

    /// <summary>The smallest of 1, 2, 5, 10, 20, 50, ... that cuts <paramref name="count"/> items to at most <paramref name="most"/>.</summary>
    internal static int NiceStride(int count, int most)
    {
        for (int magnitude = 1; ; magnitude *= 10)
        {
            foreach (int m in (int[])[1, 2, 5])
            {
                if (count / (m * magnitude) < most)
                {
                    return m * magnitude;
                }
            }
        }
    }

    /// <summary>Y axis ticks for <paramref name="max"/> bytes: round numbers in KiB, MiB or GiB, with their labels.</summary>
    internal static List<(long Bytes, string Label)> YTicks(long max)
    {
        (double unit, string name) = max >= 2L << 30 ? (1024.0 * 1024 * 1024, "GiB") : max >= 2L << 20 ? (1024.0 * 1024, "MiB") : (1024.0, "KiB");
        double span = Math.Max(max, 1) / unit;
        double raw = span / 5, magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1, 2, 5, 10 }.Select(m => m * magnitude).First(s => s >= raw);
        var ticks = new List<(long, string)>();
        for (double v = 0; v <= span * 1.0001; v += step)
        {
            ticks.Add(((long)(v * unit), v.ToString(step < 1 ? "0.#" : "0", CultureInfo.InvariantCulture) + " " + name));
        }

        return ticks;
    }
}
