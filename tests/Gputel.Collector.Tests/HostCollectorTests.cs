using Gputel.Collector.Collectors;
using Gputel.Collector.Model;

namespace Gputel.Collector.Tests;

public sealed class HostCollectorTests : IDisposable
{
    private readonly string _proc = Directory.CreateTempSubdirectory("gputel-proc-").FullName;

    [Fact]
    public void Reads_memory_and_load_from_proc_in_bytes()
    {
        File.WriteAllText(Path.Combine(_proc, "meminfo"), "MemTotal:       16314464 kB\nMemFree:         1000000 kB\nMemAvailable:   12000000 kB\n");
        File.WriteAllText(Path.Combine(_proc, "loadavg"), "1.25 0.80 0.50 2/345 6789\n");
        var output = new CollectorOutput();

        new HostCollector(_proc).Collect(null, output);

        Assert.Equal(16314464 * 1024.0, Value(output, GpuMetrics.HostMemoryTotal));
        Assert.Equal(12000000 * 1024.0, Value(output, GpuMetrics.HostMemoryAvailable));
        Assert.Equal(1.25, Value(output, GpuMetrics.HostLoad1));
        Assert.All(output.Readings, r => Assert.Equal(-1, r.Device));
    }

    [Fact]
    public void A_missing_proc_file_is_an_error_for_the_runner_to_report()
    {
        Assert.ThrowsAny<IOException>(() => new HostCollector(_proc).Collect(null, new CollectorOutput()));
    }

    private static double Value(CollectorOutput output, MetricDescriptor metric) =>
        Assert.Single(output.Readings, r => ReferenceEquals(r.Metric, metric)).Value;

    public void Dispose() => Directory.Delete(_proc, recursive: true);
}
