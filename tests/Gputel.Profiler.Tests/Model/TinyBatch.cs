using Gputel.Core.Model;
using Gputel.Profiler.Model;
using static TorchSharp.torch;

namespace Gputel.Profiler.Tests.Model;

/// <summary>Deterministic token batches for the tiny model (own generator: tests run in parallel).</summary>
internal static class TinyBatch
{
    public const int Batch = 2;
    public const int Length = 12;

    /// <summary>Random token ids [2, 12]; labels are the ids themselves (the model shifts them).</summary>
    public static Tensor Tokens(int seed = 7)
    {
        using var generator = new Generator((ulong)seed);
        return randint(ModelShape.Tiny.VocabSize, [Batch, Length], ScalarType.Int64, generator: generator);
    }

    /// <summary>Gradients by parameter name, copied, for parameters that have one.</summary>
    public static Dictionary<string, Tensor> Gradients(DecoderModel model) =>
        model.named_parameters()
            .Where(entry => entry.parameter.grad is not null)
            .ToDictionary(entry => entry.name, entry => entry.parameter.grad!.clone().DetachFromDisposeScope());
}
