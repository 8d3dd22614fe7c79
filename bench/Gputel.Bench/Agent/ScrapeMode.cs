using System.Diagnostics;
using System.Globalization;
using Gputel.Bench.Rig;

namespace Gputel.Bench.Agent;

/// <summary>
/// Scrape latency of the real agent over HTTP: sequential GETs of /metrics from one client, as
/// Prometheus does, on the fake 8-GPU node, in both naming profiles.
/// </summary>
internal static class ScrapeMode
{
    private const int WarmUpRequests = 200;

    public static async Task RunAsync(int requests)
    {
        Console.WriteLine(MachineInfo.Describe());
        Console.WriteLine($"{FakeGpuScript.Gpus} fake GPUs x {FakeGpuScript.ProcessesPerGpu} processes; {WarmUpRequests} warm-up GETs, then {requests} sequential GETs of /metrics (latency includes reading the body)");
        Console.WriteLine();
        Console.WriteLine("| metric names | requests | p50 ms | p90 ms | p99 ms | max ms | body bytes |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        using var node = new FakeGpuNode();
        foreach (string profile in new[] { "default", "dcgm" })
        {
            using AgentProcess agent = await AgentProcess.StartAsync(node, "--metric-names", profile).ConfigureAwait(false);
            using var client = new HttpClient();
            await GetAsync(client, agent.MetricsUri, WarmUpRequests).ConfigureAwait(false);
            (double[] milliseconds, int bodyBytes) = await GetAsync(client, agent.MetricsUri, requests).ConfigureAwait(false);
            Array.Sort(milliseconds);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {profile} | {requests} | {Percentile(milliseconds, 50):0.000} | {Percentile(milliseconds, 90):0.000} | {Percentile(milliseconds, 99):0.000} | {milliseconds[^1]:0.000} | {bodyBytes} |"));
        }
    }

    private static async Task<(double[] Milliseconds, int BodyBytes)> GetAsync(HttpClient client, Uri uri, int count)
    {
        var milliseconds = new double[count];
        int bodyBytes = 0;
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            byte[] body = await client.GetByteArrayAsync(uri).ConfigureAwait(false);
            milliseconds[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            bodyBytes = body.Length;
        }

        return (milliseconds, bodyBytes);
    }

    // Nearest rank: the smallest value with at least p% of the values at or below it.
    private static double Percentile(double[] sorted, int p) =>
        sorted[Math.Max(0, (int)Math.Ceiling(p / 100.0 * sorted.Length) - 1)];
}
