using BenchmarkDotNet.Attributes;

namespace Gputel.Bench.Micro;

/// <summary>One full sample: every device collector on each of the 8 fake GPUs (32 processes each).</summary>
[MemoryDiagnoser]
public class SampleBenchmark
{
    private InProcessGpus? _gpus;

    // Runs in BenchmarkDotNet's child process, which is where the fake driver must be set up.
    [GlobalSetup]
    public void Setup() => _gpus = new InProcessGpus();

    [GlobalCleanup]
    public void Cleanup() => _gpus?.Dispose();

    [Benchmark]
    public void SampleAllGpus() => _gpus!.Sampler.SampleOnce();
}
