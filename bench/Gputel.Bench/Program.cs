using System.Globalization;
using BenchmarkDotNet.Running;
using Gputel.Bench.Agent;
using Gputel.Bench.Profiler;
using Gputel.Bench.Report;

// Modes (see bench/README.md):
//   [micro] [BenchmarkDotNet args]   in-process benchmarks of one sample and one exposition
//   scrape [--requests N]            /metrics latency of the real agent (default 5000 GETs)
//   cpu [--seconds D]                CPU and RSS of the real agent over D seconds (default 60)
//   profiler [--blocks B] [--steps S] [--warmup W] [--threads T] [--shape tiny|tiny-128|small]... [--exact-cpu-peaks]
//                                    fine-tuning step time with the memory profiler's hooks on and off
//                                    (default 10 pairs of 6-step blocks after 30 warm-up steps each way;
//                                    T libtorch intra-op threads, 0 = libtorch's default; every shape
//                                    unless --shape names some; --exact-cpu-peaks: the hooks with
//                                    exact CPU peaks, their allocator set-up counted as their cost;
//                                    run with DOTNET_TieredCompilation=0 for the steady state)
//   report [--steps S] [--samples N] [--runs R]
//                                    `gputel report` on a synthetic record of S steps and N samples
//                                    (default 5000 and 100000), R runs end to end and in-process (default 7)
bool modeGiven = args.Length > 0 && !args[0].StartsWith('-');
string mode = modeGiven ? args[0] : "micro";
string[] rest = modeGiven ? args[1..] : args;

try
{
    switch (mode)
    {
        case "micro":
            BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest);
            return 0;
        case "scrape":
            await ScrapeMode.RunAsync(IntOption(rest, "--requests", 5000)).ConfigureAwait(false);
            return 0;
        case "cpu":
            await CpuMode.RunAsync(IntOption(rest, "--seconds", 60)).ConfigureAwait(false);
            return 0;
        case "profiler":
            ProfilerMode.Run(IntOption(rest, "--blocks", 10), IntOption(rest, "--steps", 6), IntOption(rest, "--warmup", 30), IntOption(rest, "--threads", 0, allowZero: true), Values(rest, "--shape"), rest.Contains("--exact-cpu-peaks"));
            return 0;
        case "report":
            ReportMode.Run(IntOption(rest, "--steps", 5000), IntOption(rest, "--samples", 100_000), IntOption(rest, "--runs", 7));
            return 0;
        default:
            throw new ArgumentException($"unknown mode '{mode}': use micro, scrape, cpu, profiler or report");
    }
}
catch (ArgumentException e)
{
    await Console.Error.WriteLineAsync($"gputel-bench: {e.Message}").ConfigureAwait(false);
    return 2;
}

// Every value given for a repeatable option: "--shape tiny --shape small".
static HashSet<string> Values(string[] args, string name)
{
    var values = new HashSet<string>(StringComparer.Ordinal);
    for (int i = 0; i < args.Length; i++)
    {
        if (args[i] == name)
        {
            if (i + 1 >= args.Length || args[i + 1].StartsWith('-'))
            {
                throw new ArgumentException($"{name} needs a value");
            }

            values.Add(args[++i]);
        }
    }

    return values;
}

static int IntOption(string[] args, string name, int fallback, bool allowZero = false)
{
    int at = Array.IndexOf(args, name);
    if (at < 0)
    {
        return fallback;
    }

    if (at + 1 < args.Length && int.TryParse(args[at + 1], NumberStyles.None, CultureInfo.InvariantCulture, out int value) && (value > 0 || (allowZero && value == 0)))
    {
        return value;
    }

    throw new ArgumentException($"{name} needs a positive whole number");
}
