using Gputel.Core.Model;
using Gputel.Core.Reports;
using Gputel.Core.Training;
using Gputel.Profiler.Training;

namespace Gputel.Profiler.Tests.Reports;

/// <summary>One real fine-tuning run (tiny shape, LoRA, 3 steps, CPU) and its report, shared by the tests of a class.</summary>
public sealed class RealRunReport : IDisposable
{
    public RealRunReport()
    {
        Directory.CreateDirectory(RunDirectory);
        var options = new FineTuneOptions(ModelShape.Tiny with { VocabSize = 512 }, RunDirectory)
        {
            ModelName = "tiny",
            Method = FineTuneMethod.Lora,
            Steps = 3,
            BatchSize = 2,
            CutoffLength = 32,
            RunId = "report-test",
        };
        // A pause between steps longer than the sampling interval, so that the samples drawn over
        // the chart cover more than one point however fast the machine trains.
        FineTuneRun.Run(options, _ => Thread.Sleep(HostSamplerPause));
        Report = RunReport.Read(RunDirectory);
        Files = Report.Write(RunDirectory);
    }

    private static readonly TimeSpan HostSamplerPause = Gputel.Profiler.Records.HostSampler.Interval * 1.5;

    public string RunDirectory { get; } = Path.Combine(Path.GetTempPath(), "gputel-report-" + Guid.NewGuid().ToString("N"));

    public RunReport Report { get; }

    public ReportFiles Files { get; }

    public void Dispose() => Directory.Delete(RunDirectory, recursive: true);
}
