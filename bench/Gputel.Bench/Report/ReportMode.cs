using System.Diagnostics;
using System.Globalization;
using Gputel.Bench.Agent;
using Gputel.Bench.Rig;
using Gputel.Core.Reports;

namespace Gputel.Bench.Report;

/// <summary>
/// How long <c>gputel report</c> takes on a long run's record: a synthetic record of S steps and N
/// samples (default 5,000 and 100,000: about 2.8 hours at a 2 s step and a 200 ms sample interval),
/// reported R times end to end as users run it (the Release gputel.dll as a child process, from
/// start to exit, all four files written), then R times in-process after a warm-up (the work alone,
/// without process start and compilation). Medians, with the minimum and maximum.
/// </summary>
internal static class ReportMode
{
    public static void Run(int steps, int samples, int runs)
    {
        if (!File.Exists(RepoPaths.AgentDll))
        {
            throw new ArgumentException($"{RepoPaths.AgentDll} not found: build it first (dotnet build -c Release agent/Gputel.Agent.csproj, or bench/run.sh)");
        }

        string root = Directory.CreateTempSubdirectory("gputel-bench-report-").FullName;
        try
        {
            string run = Path.Combine(root, "run"), output = Path.Combine(root, "out");
            var generate = Stopwatch.StartNew();
            SyntheticRun.Write(run, steps, samples);
            generate.Stop();
            long recordBytes = Directory.GetFiles(run).Sum(f => new FileInfo(f).Length);

            var process = new List<double>();
            var processCpu = new List<double>();
            for (int i = 0; i < runs; i++)
            {
                (double wall, double cpu) = TimeCli(run, output);
                process.Add(wall);
                processCpu.Add(cpu);
            }

            RunReport.Read(run).Write(output); // warm-up: compile once
            if (Environment.GetEnvironmentVariable("GPUTEL_BENCH_KEEP") is { } keep)
            {
                CopyDirectory(run, keep);
            }
            var inProcess = new List<double>();
            for (int i = 0; i < runs; i++)
            {
                var watch = Stopwatch.StartNew();
                RunReport.Read(run).Write(output);
                inProcess.Add(watch.Elapsed.TotalSeconds);
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"""
                # gputel report on a long run

                {MachineInfo.Describe()}; load average at the end: {LoadAverage()}

                Record: {steps:N0} steps x 4 phases ({steps * 4:N0} lines in steps.jsonl), {samples:N0} lines in samples.jsonl, {recordBytes / 1048576.0:0.0} MiB in all (generated in {generate.Elapsed.TotalSeconds:0.0} s).
                Output: report.html {Size(output, "report.html")}, report.png {Size(output, "report.png")}, summary.json {Size(output, "summary.json")}, report.md {Size(output, "report.md")}.

                | what | runs | median | min | max |
                | --- | ---: | ---: | ---: | ---: |
                | `gputel report` end to end (process start to exit), wall | {runs} | {Median(process):0.000} s | {process.Min():0.000} s | {process.Max():0.000} s |
                | the same runs, CPU time (user + system, all threads) | {runs} | {Median(processCpu):0.000} s | {processCpu.Min():0.000} s | {processCpu.Max():0.000} s |
                | in-process `RunReport.Read` + `Write`, warm | {runs} | {Median(inProcess):0.000} s | {inProcess.Min():0.000} s | {inProcess.Max():0.000} s |
                """));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)), overwrite: true);
        }
    }

    // On a shared machine wall time grows with others' load; CPU time much less so. Both are reported.
    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static (double Wall, double Cpu) TimeCli(string run, string output)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in (string[])[RepoPaths.AgentDll, "report", run, "--out", output])
        {
            start.ArgumentList.Add(argument);
        }

        double cpuBefore = LibC.ChildrenCpuSeconds();
        var watch = Stopwatch.StartNew();
        using Process report = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        Task<string> stderr = report.StandardError.ReadToEndAsync();
        report.StandardOutput.ReadToEnd();
        report.WaitForExit();
        double seconds = watch.Elapsed.TotalSeconds, cpu = LibC.ChildrenCpuSeconds() - cpuBefore;
        if (report.ExitCode != 0)
        {
            throw new InvalidOperationException($"gputel report failed ({report.ExitCode}): {stderr.Result}");
        }

        return (seconds, cpu);
    }

    private static double Median(List<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Size(string directory, string file) =>
        string.Create(CultureInfo.InvariantCulture, $"{new FileInfo(Path.Combine(directory, file)).Length / 1024.0:0} KiB");
}
