using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary><c>gputel estimate</c> as users run it: what it refuses, and what it compares with what.</summary>
public sealed class EstimateCommandTests
{
    [Theory]
    [InlineData("lora", "-8")]
    [InlineData("lora", "0")]
    [InlineData("full", "-8")]
    public void A_lora_rank_below_one_exits_2_and_names_it(string method, string rank)
    {
        (int exit, string output) = AgentProcess.Run(["estimate", "--method", method, "--lora-rank", rank]);

        Assert.True(exit == 2, output);
        Assert.Contains($"gputel estimate: invalid lora-rank '{rank}': must be a positive number", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Across_gpus_the_usual_tables_figure_is_compared_per_gpu()
    {
        (int exit, string output) = AgentProcess.Run(["estimate", "--model", "qwen2-7b", "--method", "full", "--gpus", "8", "--zero-stage", "3"]);

        Assert.True(exit == 0, output);
        // 18 B x 7.6 B parameters is 127.67 GiB for the whole model; ZeRO-3 leaves an eighth on each GPU.
        string text = string.Join(' ', output.Split('\n', StringSplitOptions.TrimEntries));
        Assert.Contains("the usual table (model state only) says 15.96 GiB per GPU, its model state sharded as ZeRO-3 shards it over 8 GPUs", text, StringComparison.Ordinal);
        Assert.DoesNotContain("127.67", text, StringComparison.Ordinal);
    }
}
