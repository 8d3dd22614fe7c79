using BenchmarkDotNet.Attributes;
using Gputel.Collector.Exposition;

namespace Gputel.Bench.Micro;

/// <summary>One /metrics body for the store of a full 8-GPU sample, without HTTP: what a scrape costs the agent.</summary>
[MemoryDiagnoser]
public class ExpositionBenchmark
{
    private InProcessGpus? _gpus;
    private PrometheusExposition? _exposition;
    private readonly MemoryStream _body = new();

    [Params(NamingProfile.Default, NamingProfile.Dcgm)]
    public NamingProfile Profile { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _gpus = new InProcessGpus();
        _exposition = new PrometheusExposition(_gpus.Store, Profile, new AgentInfo(
            "bench-host", _gpus.DriverVersion, NvmlAvailable: true, TimeSpan.FromSeconds(1), "bench"));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _gpus?.Dispose();
        _body.Dispose();
    }

    [Benchmark]
    public async Task<long> WriteMetrics()
    {
        // Reuse the buffer: growing a fresh stream each time would be measured along with the exposition.
        _body.SetLength(0);
        await _exposition!.WriteAsync(_body).ConfigureAwait(false);
        return _body.Length;
    }
}
