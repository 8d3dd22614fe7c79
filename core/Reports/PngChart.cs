using Gputel.Core.Memory;
using ScottPlot;

namespace Gputel.Core.Reports;

/// <summary><c>report.png</c>: the same chart as the HTML page (same bands, same line), drawn with ScottPlot.</summary>
internal static class PngChart
{
    public const int Width = 1200, Height = 600;
    private const double MiB = 1024 * 1024;

    public static void Save(string path, RunSummary summary, ChartSeries chart)
    {
        using var plot = new Plot();
        for (int c = 0; c < chart.StackOrder.Count; c++)
        {
            if (chart.Bands.All(b => b.Tops[c] == (c == 0 ? 0 : b.Tops[c - 1])))
            {
                continue;
            }

            // Two points per band at the same height: each phase is drawn as a flat step.
            double[] xs = new double[chart.Bands.Count * 2], lower = new double[xs.Length], upper = new double[xs.Length];
            for (int i = 0; i < chart.Bands.Count; i++)
            {
                ChartBand b = chart.Bands[i];
                xs[2 * i] = b.X0;
                xs[(2 * i) + 1] = b.X1;
                lower[2 * i] = lower[(2 * i) + 1] = (c == 0 ? 0 : b.Tops[c - 1]) / MiB;
                upper[2 * i] = upper[(2 * i) + 1] = b.Tops[c] / MiB;
            }

            ScottPlot.Plottables.FillY fill = plot.Add.FillY(xs, lower, upper);
            fill.FillColor = Color.FromHex(MemoryCategories.ColourOf(chart.StackOrder[c]));
            fill.LineWidth = 0;
            fill.MarkerSize = 0;
            fill.LegendText = chart.StackOrder[c];
        }

        if (chart.Line.Count > 0)
        {
            ScottPlot.Plottables.Scatter line = plot.Add.ScatterLine(chart.Line.Select(p => p.X).ToArray(), chart.Line.Select(p => p.Y / MiB).ToArray());
            line.Color = Color.FromHex(ChartSeries.LineColour);
            line.LineWidth = 1.5f;
            line.LegendText = summary.Samples.Gpu >= 0 ? $"GPU {summary.Samples.Gpu} (NVML, this process)" : "malloc in use (sampled)";
        }

        plot.Title($"Training memory: {summary.RunId ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(summary.RunDirectory))} ({HtmlReport.StatusText(summary.Status)})");
        plot.XLabel($"phase lines in order (steps of: {string.Join(", ", summary.Phases)})");
        plot.YLabel("MiB");
        plot.Axes.SetLimits(0, chart.XMax, 0, Math.Max(chart.YMax * 1.05, 1) / MiB);
        plot.ShowLegend(Edge.Right);
        plot.SavePng(path, Width, Height);
    }
}
