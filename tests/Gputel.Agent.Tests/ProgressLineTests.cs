using Gputel.Agent.Commands;
using Gputel.Core.Memory;
using Gputel.Core.Training;
using Xunit;

namespace Gputel.Agent.Tests;

/// <summary>The line finetune prints per step, built from a run record's categories only.</summary>
public sealed class ProgressLineTests
{
    private const long MiB = 1024 * 1024;

    [Fact]
    public void Shows_every_run_record_category_that_holds_memory_and_none_of_the_snapshot_only_ones()
    {
        long[] bytes = new long[MemoryCategories.All.Count];
        bytes[(int)MemoryCategory.Weights] = 100 * MiB;
        bytes[(int)MemoryCategory.Activations] = 30 * MiB;
        bytes[(int)MemoryCategory.AllocatorCache] = 5 * MiB;
        var peak = new MemorySnapshot(0, Phase.Backward, bytes, 135 * MiB, 140 * MiB, 0.5);

        string line = FinetuneCommand.ProgressLine(new StepReport(0, 4, 1.25, 0.5, 1000, peak, bytes));

        Assert.Contains("step    1/4", line);
        Assert.Contains("(backward)", line);
        foreach (CategoryInfo row in MemoryCategories.Table)
        {
            bool expected = row.InRunRecords
                && (bytes[(int)row.Category] != 0 || row.Category is MemoryCategory.Gradients or MemoryCategory.OptimizerState);
            Assert.True(expected == line.Contains($"  {row.Label} "), $"{row.Label} in \"{line}\"");
        }

        Assert.Contains($"  {MemoryCategories.Table[(int)MemoryCategory.Weights].Label} 100.0", line);
    }
}
