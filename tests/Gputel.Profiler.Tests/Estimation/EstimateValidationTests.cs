using Gputel.Core.Estimation;
using Gputel.Core.Model;
using Gputel.Core.Training;
using Gputel.Profiler.Model;
using Gputel.Profiler.Training;

namespace Gputel.Profiler.Tests.Estimation;

/// <summary>LoRA settings the estimator refuses or reads as the model would.</summary>
public sealed class EstimateValidationTests
{
    private static EstimateRequest Lora(int rank, params string[] targets) => new()
    {
        Shape = ModelShape.Named("qwen2-1.5b"),
        Method = FineTuneMethod.Lora,
        Lora = targets.Length == 0 ? new LoraSettings(rank, 2.0 * rank) : new LoraSettings(rank, 2.0 * rank, 0, targets),
    };

    [Theory]
    [InlineData(0)]
    [InlineData(-8)]
    public void A_lora_rank_below_one_is_refused(int rank)
    {
        var e = Assert.Throws<ArgumentException>(() => MemoryEstimator.Estimate(Lora(rank)));
        Assert.Contains($"LoRA rank must be at least 1, not {rank}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_target_named_twice_is_estimated_once()
    {
        MemoryEstimate once = MemoryEstimator.Estimate(Lora(8, "q_proj", "v_proj"));
        MemoryEstimate twice = MemoryEstimator.Estimate(Lora(8, "q_proj", "q_proj", "v_proj"));

        Assert.Equal(once.Lines.Select(l => (l.Category, l.Bytes, l.Formula)), twice.Lines.Select(l => (l.Category, l.Bytes, l.Formula)));
    }
}
