using Gputel.Core.Estimation;
using Gputel.Core.Model;
using Gputel.Core.Training;
using Gputel.Profiler.Model;
using Gputel.Profiler.Training;

namespace Gputel.Profiler.Tests.Estimation;

/// <summary>What ZeRO divides across GPUs, and the model-state-only figure made per GPU to compare with the per-GPU peak.</summary>
public sealed class ZeroShardingTests
{
    private static EstimateRequest Request(FineTuneMethod method, int gpus, int stage, string device = "cuda") => new()
    {
        Shape = ModelShape.Named("qwen2-7b"),
        ModelName = "qwen2-7b",
        Method = method,
        Gpus = gpus,
        ZeroStage = stage,
        Device = ComputeDevice.Parse(device),
    };

    private static long Shard(long bytes, int gpus) => (bytes + gpus - 1) / gpus;

    [Theory]
    [InlineData("cuda", 1)]
    [InlineData("cuda", 2)]
    [InlineData("cuda", 3)]
    [InlineData("cpu", 3)]
    public void The_optimizer_steps_buffers_divide_as_its_state_does(string device, int stage)
    {
        var whole = new Terms(Request(FineTuneMethod.Full, 1, stage, device));
        var sharded = new Terms(Request(FineTuneMethod.Full, 8, stage, device));

        Assert.Equal(Shard(whole.OptimizerState, 8), sharded.OptimizerState);
        Assert.Equal(Shard(whole.OptimizerTransient(ComputeDevice.Parse(device)), 8), sharded.OptimizerTransient(ComputeDevice.Parse(device)));
        Assert.EndsWith($" / 8 GPUs (ZeRO-{stage})", sharded.OptimizerTransientFormula(ComputeDevice.Parse(device)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(FineTuneMethod.Full, 1, 6, 12)]
    [InlineData(FineTuneMethod.Full, 2, 2, 16)]
    [InlineData(FineTuneMethod.Full, 3, 0, 18)]
    [InlineData(FineTuneMethod.Lora, 2, 2, 0)]
    [InlineData(FineTuneMethod.Lora, 3, 0, 2)]
    public void Model_state_only_is_per_gpu_sharded_as_the_stage_shards_it(FineTuneMethod method, int stage, int wholeBytes, int shardedBytes)
    {
        long parameters = ModelShape.Named("qwen2-7b").ParameterCount().Total;

        MemoryEstimate estimate = MemoryEstimator.Estimate(Request(method, 8, stage));

        // Bytes per parameter kept whole on every GPU, plus those divided among the 8 (rounded up
        // per part, as each part is sharded on its own).
        long expected = wholeBytes * parameters + (shardedBytes * parameters / 8);
        Assert.InRange(estimate.ModelStateOnlyBytes, expected, expected + 3);
        Assert.Contains("per GPU", estimate.ModelStateOnlyFormula, StringComparison.Ordinal);
        // The usual table's own figure on one GPU is unchanged.
        Assert.Equal((method == FineTuneMethod.Full ? 18 : 2) * parameters, MemoryEstimator.Estimate(Request(method, 1, 0)).ModelStateOnlyBytes);
    }
}
