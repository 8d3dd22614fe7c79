using BenchmarkDotNet.Attributes;
using Gputel.Core.Model;
using Gputel.Profiler.Memory;
using Gputel.Profiler.Model;
using static TorchSharp.torch;

namespace Gputel.Bench.Micro;

/// <summary>
/// One walk over the tiny model's parameters for their gradients' storages, as every backward and
/// zero_grad phase end does: by reference (<c>at::Tensor::grad</c>) against a native reference made
/// and released per parameter (<c>THSTensor_grad</c>), with gradients present and after zero_grad.
/// Warm caches: inside a training loop each costs several times more.
/// </summary>
[MemoryDiagnoser]
public class GradientWalkBenchmark
{
    private DecoderModel? _model;
    private Tensor[] _parameters = [];

    /// <summary>Whether the walk finds gradients (after backward) or none (after zero_grad).</summary>
    [Params(true, false)]
    public bool Gradients { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        manual_seed(1);
        _model = new DecoderModel(ModelShape.Tiny with { VocabSize = 512 });
        _model.TrainAll();
        _parameters = [.. _model.parameters()];
        if (Gradients)
        {
            using (NewDisposeScope())
            {
                Tensor ids = randint(512, [2, 32], dtype: ScalarType.Int64);
                _model.call(ids, ids).Loss!.backward();
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _model?.Dispose();

    [Benchmark(Baseline = true)]
    public long ThroughNativeReference() => Walk(byReference: false);

    [Benchmark]
    public long ByReference() => Walk(byReference: true);

    private long Walk(bool byReference)
    {
        long bytes = 0;
        foreach (Tensor parameter in _parameters)
        {
            bytes += NativeStorage.GradientOf(parameter, byReference).Bytes;
        }

        return bytes;
    }
}
