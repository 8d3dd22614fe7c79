using Gputel.Core.Memory;
using Gputel.Core.Training;
using Gputel.Profiler.Memory;
using static TorchSharp.torch;

namespace Gputel.Profiler.Tests.Memory;

/// <summary>Category accounting on a small real training loop on the CPU.</summary>
public sealed class MemoryAccountantTests
{
    // Wide enough (about 60 MB at peak) that what glibc and libtorch keep outside any tensor (about
    // 1 MB now and then, whatever the model) stays under the 5% bound.
    private const int Width = 1536;

    private static (long Params, IReadOnlyList<MemorySnapshot> Snapshots) Train(bool freezeFirst, int steps = 3)
    {
        long baseline = CpuAllocator.InUseBytes()!.Value;
        long runtime = LibtorchRuntime.Prime();
        var model = nn.Sequential(
            ("l1", nn.Linear(Width, Width)), ("act", nn.GELU()), ("l2", nn.Linear(Width, Width)), ("act2", nn.GELU()), ("l3", nn.Linear(Width, 1)));
        if (freezeFirst)
        {
            foreach (var p in model.named_parameters().Where(p => p.name.StartsWith("l1", StringComparison.Ordinal)))
            {
                p.parameter.requires_grad = false;
            }
        }

        var trainable = model.parameters().Where(p => p.requires_grad).ToList();
        var optimizer = optim.AdamW(trainable, lr: 1e-3);
        using var accountant = new MemoryAccountant(model, () => OptimizerStateTensors.Of(optimizer), baselineBytes: baseline, runtimeBytes: runtime);
        for (int step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            Tensor x = randn(256, Width), y = randn(256, 1);
            accountant.SetInputs(x, y);
            Tensor loss;
            using (accountant.Phase(step, Phase.Forward))
            {
                loss = nn.functional.mse_loss(model.call(x), y);
            }

            using (accountant.Phase(step, Phase.Backward))
            {
                loss.backward();
            }

            using (accountant.Phase(step, Phase.OptimizerStep))
            {
                optimizer.step();
            }

            using (accountant.Phase(step, Phase.ZeroGrad))
            {
                model.zero_grad(set_to_none: true);
            }

            scope.Dispose();
            accountant.SetInputs();
            accountant.SettleRuntime();
        }

        return (trainable.Sum(p => p.numel()), accountant.Snapshots);
    }

    private static long ParameterCount => (Width * Width + Width) * 2 + Width + 1;

    [Fact]
    public void Weights_are_the_parameter_count_times_four_bytes()
    {
        (_, IReadOnlyList<MemorySnapshot> snapshots) = Train(freezeFirst: false, steps: 1);
        Assert.All(snapshots, s => Assert.Equal(ParameterCount * 4, s[MemoryCategory.Weights]));
    }

    [Fact]
    public void Gradients_and_adamw_state_cover_only_trainable_parameters()
    {
        (long trainable, IReadOnlyList<MemorySnapshot> snapshots) = Train(freezeFirst: true, steps: 2);
        Assert.Equal(ParameterCount - (Width * Width) - Width, trainable);

        MemorySnapshot backward = snapshots.Single(s => s.Step == 1 && s.Phase == Phase.Backward);
        Assert.Equal(trainable * 4, backward[MemoryCategory.Gradients]);
        // AdamW: two fp32 moments per trainable parameter.
        Assert.Equal(2 * 4 * trainable, backward[MemoryCategory.OptimizerState]);
        Assert.Equal(0, snapshots.Single(s => s.Step == 1 && s.Phase == Phase.ZeroGrad)[MemoryCategory.Gradients]);
    }

    [Fact]
    public void Categories_add_up_to_the_allocator_and_little_is_unattributed()
    {
        (_, IReadOnlyList<MemorySnapshot> snapshots) = Train(freezeFirst: false);
        long peak = snapshots.Max(s => s.PeakBytes);
        // Step 0 sets up libtorch's per-shape state, which becomes runtime at its end.
        foreach (MemorySnapshot s in snapshots.Where(s => s.Step > 0))
        {
            long sum = s.Bytes.Sum() - s[MemoryCategory.Temporary];
            Assert.Equal(s.AllocatorBytes, sum);
            string table = string.Join(" / ", snapshots.Select(x => $"{x.Step}{x.Phase.Name[0]} u={x[MemoryCategory.Unattributed]} a={x.AllocatorBytes} act={x[MemoryCategory.Activations]} g={x[MemoryCategory.Gradients]} o={x[MemoryCategory.OptimizerState]}"));
            Assert.True(Math.Abs(s[MemoryCategory.Unattributed]) < peak / 20, $"{s.Phase} step {s.Step}: unattributed {s[MemoryCategory.Unattributed]} of peak {peak}: {table}");
            Assert.True(s.PeakBytes >= s.AllocatorBytes);
        }

        // Forward keeps activations for backward: 256 x 512 floats per saved layer input and GELU output.
        MemorySnapshot forward = snapshots.Single(s => s.Step == 1 && s.Phase == Phase.Forward);
        Assert.InRange(forward[MemoryCategory.Activations], 3L * 256 * Width * 4, 8L * 256 * Width * 4);
        Assert.Equal(256L * (Width + 1) * 4, forward[MemoryCategory.Inputs]);
    }

    [Fact]
    public void Timings_when_asked_split_each_scope_and_count_the_offered_reads()
    {
        var model = nn.Linear(64, 64);
        using var accountant = new MemoryAccountant(model, () => []);
        accountant.Timings = new();
        using (NewDisposeScope())
        {
            Tensor x = randn(32, 64);
            Tensor loss;
            using (accountant.Phase(0, Phase.Forward))
            {
                loss = model.call(x).sum();
                accountant.SamplePeak();
            }

            using (accountant.Phase(0, Phase.Backward, continuesLast: true))
            {
                loss.backward();
            }
        }

        Assert.Equal(["backward", "forward", "marks"], accountant.Timings.Keys.Order());
        // Forward reads its start; every phase end reads, categorizes and logs.
        Assert.True(accountant.Timings["forward"][0] > 0);
        Assert.All(accountant.Timings.Where(t => t.Key != "marks"), t => Assert.All(t.Value[1..], ticks => Assert.True(ticks > 0)));
        Assert.True(accountant.Timings["marks"][0] > 0);
        Assert.Equal(2, accountant.Snapshots.Count);
    }
}
