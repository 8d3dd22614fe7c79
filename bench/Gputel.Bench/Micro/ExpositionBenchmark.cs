using BenchmarkDotNet.Attributes;
using Gputel.Collector.Exposition;
using Gputel.Collector.Nvml;

namespace Gputel.Bench.Micro;

/// <summary>
/// One /metrics body for the store of a full 8-GPU sample, without HTTP: what a scrape costs the
/// agent. <see cref="WriteMetrics"/> is a scrape while the store is unchanged (the body rendered
/// before is served again); <see cref="RenderMetrics"/> one after a new memory sample, which
/// renders; <see cref="CopyStore"/> the part of a render that copies the store into the registry
/// (the rest is prometheus-net's serialization).
/// </summary>
[MemoryDiagnoser]
public class ExpositionBenchmark
{
    private InProcessGpus? _gpus;
    private PrometheusExposition? _exposition;
    private readonly MemoryStream _body = new();
    private MemoryInfo _memory;

    [Params(NamingProfile.Default, NamingProfile.Dcgm)]
    public NamingProfile Profile { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _gpus = new InProcessGpus();
        _exposition = new PrometheusExposition(_gpus.Store, Profile, new AgentInfo(
            "bench-host", _gpus.DriverVersion, NvmlAvailable: true, TimeSpan.FromSeconds(1), "bench"));
        _gpus.Store.Memory(0).TryRead(closeWindow: false, out _memory, out _);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _gpus?.Dispose();
        _body.Dispose();
    }

    [Benchmark]
    public async Task<long> RenderMetrics()
    {
        _gpus!.Store.Memory(0).Record(_memory);
        _body.SetLength(0);
        await _exposition!.WriteAsync(_body).ConfigureAwait(false);
        return _body.Length;
    }

    [Benchmark]
    public void CopyStore() => _exposition!.Update();

    [Benchmark]
    public async Task<long> WriteMetrics()
    {
        // Reuse the buffer: growing a fresh stream each time would be measured along with the exposition.
        _body.SetLength(0);
        await _exposition!.WriteAsync(_body).ConfigureAwait(false);
        return _body.Length;
    }
}
