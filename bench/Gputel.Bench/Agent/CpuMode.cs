using System.Diagnostics;
using System.Globalization;
using Gputel.Bench.Rig;

namespace Gputel.Bench.Agent;

/// <summary>
/// The agent's steady-state cost: CPU and resident memory of the real agent over a run, at its
/// default intervals (memory every 10 ms, the rest every 1 s) on the fake 8-GPU node, scraped once
/// a second as a Prometheus with a 1 s scrape interval would.
/// </summary>
internal static class CpuMode
{
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ScrapeInterval = TimeSpan.FromSeconds(1);

    public static async Task RunAsync(int seconds)
    {
        Console.WriteLine(MachineInfo.Describe());
        Console.WriteLine($"{FakeGpuScript.Gpus} fake GPUs x {FakeGpuScript.ProcessesPerGpu} processes; default intervals (memory 10 ms, others 1 s); /metrics scraped every {ScrapeInterval.TotalSeconds:0} s; {WarmUp.TotalSeconds:0} s warm-up, then {seconds} s measured");
        using var node = new FakeGpuNode();
        using AgentProcess agent = await AgentProcess.StartAsync(node).ConfigureAwait(false);
        using var client = new HttpClient();

        await ScrapeForAsync(client, agent.MetricsUri, WarmUp).ConfigureAwait(false);
        TimeSpan cpuBefore = ProcStat.CpuTime(agent.Pid);
        long rssBefore = ProcStat.ResidentBytes(agent.Pid);
        long start = Stopwatch.GetTimestamp();

        int scrapes = await ScrapeForAsync(client, agent.MetricsUri, TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);

        TimeSpan wall = Stopwatch.GetElapsedTime(start);
        TimeSpan cpu = ProcStat.CpuTime(agent.Pid) - cpuBefore;
        long rssAfter = ProcStat.ResidentBytes(agent.Pid);

        Console.WriteLine();
        Console.WriteLine("| measured s | scrapes | agent CPU s | CPU % of one core | RSS start MiB | RSS end MiB |");
        Console.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: |");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {wall.TotalSeconds:0.0} | {scrapes} | {cpu.TotalSeconds:0.00} | {100 * cpu / wall:0.00} | {Mib(rssBefore):0.0} | {Mib(rssAfter):0.0} |"));
    }

    /// <summary>GETs /metrics on a fixed 1 s grid for <paramref name="duration"/>; returns how many.</summary>
    private static async Task<int> ScrapeForAsync(HttpClient client, Uri uri, TimeSpan duration)
    {
        using var timer = new PeriodicTimer(ScrapeInterval);
        long start = Stopwatch.GetTimestamp();
        int scrapes = 0;
        while (Stopwatch.GetElapsedTime(start) < duration && await timer.WaitForNextTickAsync().ConfigureAwait(false))
        {
            await client.GetByteArrayAsync(uri).ConfigureAwait(false);
            scrapes++;
        }

        return scrapes;
    }

    private static double Mib(long bytes) => bytes / (1024.0 * 1024.0);
}
