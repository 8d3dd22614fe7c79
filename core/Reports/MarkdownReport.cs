using System.Globalization;
using System.Text;
using Gputel.Core.Training;

namespace Gputel.Core.Reports;

/// <summary><c>report.md</c>: the summary in Markdown (status, peak, per-phase peaks, estimate against measurement, warnings).</summary>
internal static class MarkdownReport
{
    public static string Render(RunSummary summary)
    {
        var md = new StringBuilder();
        md.Append(CultureInfo.InvariantCulture, $"# Training memory: {summary.RunId ?? summary.RunDirectory}\n\n");
        md.Append(HtmlReport.Describe(summary)).Append("\n\n");
        md.Append(CultureInfo.InvariantCulture, $"**Status: {HtmlReport.StatusText(summary.Status)}.** {summary.StatusDetail}\n\n");
        if (summary.Peak is { } peak)
        {
            md.Append(CultureInfo.InvariantCulture, $"**Peak: {ByteText.Format(peak.TotalBytes)}** at step {peak.Step}, {peak.Phase} ({summary.DescribePeakScope()}: {peak.DescribeBasis()}).\n\n");
            md.Append("| category at the peak | bytes | share |\n| --- | ---: | ---: |\n");
            foreach (CategoryShare c in summary.TopConsumers)
            {
                md.Append(CultureInfo.InvariantCulture, $"| {c.Category} | {ByteText.Format(c.Bytes)} | {c.Share:0.0%} |\n");
            }

            md.Append('\n');
        }

        if (summary.AllocationSites.Count > 0)
        {
            md.Append("| allocation site at the peak | category | bytes | blocks |\n| --- | --- | ---: | ---: |\n");
            foreach (Snapshots.AllocationSite s in summary.AllocationSites)
            {
                md.Append(CultureInfo.InvariantCulture, $"| `{s.Site.Replace("|", "\\|", StringComparison.Ordinal)}` | {s.Category} | {ByteText.Format(s.Bytes)} | {s.Blocks} |\n");
            }

            md.Append('\n');
        }

        md.Append("## Warnings\n\n");
        md.Append(summary.Warnings.Count == 0 ? "None.\n" : string.Concat(summary.Warnings.Select(w => $"- {w}\n")));
        md.Append('\n');

        if (summary.PhasePeaks.Count > 0)
        {
            md.Append("## Peak per phase (MiB)\n\nEach phase where its allocator peak was highest over steps 1 and later, and step 0 apart (it includes one-time set-up).\n\n");
            md.Append("| phase | step 0 total | steps ≥ 1: total at the highest peak | at step | allocator peak in phase |\n| --- | ---: | ---: | ---: | ---: |\n");
            foreach (PhasePeak p in summary.PhasePeaks)
            {
                md.Append(CultureInfo.InvariantCulture,
                    $"| {p.Phase} | {Mib(p.Step0?.TotalBytes)} | {Mib(p.LaterSteps?.TotalBytes)} | {p.LaterSteps?.Step.ToString(CultureInfo.InvariantCulture) ?? "-"} | {Mib((p.LaterSteps ?? p.Step0)?.PeakBytes)} |\n");
            }

            md.Append('\n');
        }

        md.Append("## Estimate versus measured\n\n");
        if (summary.Estimate is { } e)
        {
            md.Append(CultureInfo.InvariantCulture, $"The estimator's figures at its predicted peak ({e.PeakPhase}) beside the measured peak. At a backward peak the measured categories are those backward began with (the end of forward: every activation alive) and temporary is what it allocated above them, as the estimate counts them.\n\n");
            md.Append("| category | estimate | measured | formula |\n| --- | ---: | ---: | --- |\n");
            foreach (CategoryEstimate c in e.Categories)
            {
                md.Append(CultureInfo.InvariantCulture, $"| {c.Category} | {ByteText.Format(c.EstimateBytes)} | {ByteText.Format(c.MeasuredBytes)} | {c.Formula.Replace("|", "\\|", StringComparison.Ordinal)} |\n");
            }

            md.Append(CultureInfo.InvariantCulture, $"| **total** | **{ByteText.Format(e.PeakBytes)}** | **{ByteText.Format(e.MeasuredPeakBytes)}** | |\n");
            md.Append(CultureInfo.InvariantCulture, $"| model state only (the common tables) | {ByteText.Format(e.ModelStateOnlyBytes)} | | {e.ModelStateOnlyFormula.Replace("|", "\\|", StringComparison.Ordinal)} |\n");
        }
        else
        {
            md.Append("No estimate (see warnings).\n");
        }

        md.Append("\nThe chart is in report.html (interactive) and report.png; every number here is in summary.json.\n");
        return md.ToString();
    }

    private static string Mib(long? bytes) => bytes is { } b ? ByteText.MiBText(b) : "-";
}
