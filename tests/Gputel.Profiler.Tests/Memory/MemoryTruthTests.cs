using System.Runtime.InteropServices;
using Gputel.Core.Memory;
using Gputel.Core.Training;
using Gputel.Profiler.Memory;
using static TorchSharp.torch;

namespace Gputel.Profiler.Tests.Memory;

public sealed class MemoryTruthTests
{
    /// <summary>A device whose allocator figures the test sets.</summary>
    private sealed class ScriptedTruth : IMemoryTruth
    {
        public long InUseBytes { get; set; }
        public long? ReservedBytes { get; set; }
        public long? DeviceBytes { get; set; }
        public long PeakBytes { get; set; }

        public long? InUse() => InUseBytes;
        public long? Reserved() => ReservedBytes;
        public long? ProcessDevice() => DeviceBytes;
        public List<(string Phase, bool TopIsProbed)> Begun { get; } = [];
        public List<long?> StartsGiven { get; } = [];
        public void BeginPhase(Phase phase, bool topIsProbed, long? inUseNow)
        {
            Begun.Add((phase.Name, topIsProbed));
            StartsGiven.Add(inUseNow);
        }
        public long? EndPhasePeak() => PeakBytes;
        public void Dispose() { }
    }

    [Fact]
    public void A_caching_allocator_and_the_device_figure_give_allocator_cache_and_runtime()
    {
        using var model = nn.Linear(100, 10); // 1010 fp32 parameters
        long weights = 1010 * 4;
        var truth = new ScriptedTruth { InUseBytes = 1_000_000 };
        using var accountant = new MemoryAccountant(model, () => [], truth: truth);

        // The allocator holds the weights plus 1000 bytes nobody claims, has 5000 cached on top, and
        // the device sees 70000 more for the process (context, workspaces).
        truth.InUseBytes = 1_000_000 + weights + 1000;
        truth.ReservedBytes = truth.InUseBytes + 5000;
        truth.DeviceBytes = truth.ReservedBytes + 70_000;
        truth.PeakBytes = truth.InUseBytes + 2000;
        using (accountant.Phase(0, Phase.OptimizerStep))
        {
        }

        MemorySnapshot s = Assert.Single(accountant.Snapshots);
        Assert.Equal(weights, s[MemoryCategory.Weights]);
        Assert.Equal(5000, s[MemoryCategory.AllocatorCache]);
        Assert.Equal(70_000, s[MemoryCategory.Runtime]);
        Assert.Equal(1000, s[MemoryCategory.Unattributed]);
        Assert.Equal(2000, s[MemoryCategory.Temporary]);
        Assert.Equal(weights + 1000, s.AllocatorBytes);
    }

    [Theory]
    [InlineData(true, 50_000, 50_000)]
    [InlineData(false, 50_000, 42_000)]
    [InlineData(true, 2_000, 2_000)]
    [InlineData(false, 2_000, 0)]
    public void Temporaries_are_measured_between_the_marks_when_other_memory_is_released_first(bool mark, long walk, long expected)
    {
        using var model = nn.Linear(100, 10);
        long start = 1_000_000 + 1010 * 4 + 10_000;
        var truth = new ScriptedTruth { InUseBytes = 1_000_000 };
        using var accountant = new MemoryAccountant(model, () => [], truth: truth);

        truth.InUseBytes = start;
        using (accountant.Phase(1, Phase.OptimizerStep))
        {
            // 8000 bytes the step does not own go back to the allocator (seen on busy machines), then
            // the step holds its temporaries at once, reads its peak, and frees them.
            truth.InUseBytes = start - 8000;
            if (mark)
            {
                accountant.BeginTransient();
            }

            truth.InUseBytes = truth.PeakBytes = start - 8000 + walk;
            accountant.SamplePeak();
            truth.InUseBytes = start - 8000;
        }

        // Unmarked, the phase can only measure from its larger end: the release hides 8000 bytes of
        // a large walk and the whole of a small one. Marked, the temporaries are the walk's own.
        MemorySnapshot s = Assert.Single(accountant.Snapshots);
        Assert.Equal(expected, s[MemoryCategory.Temporary]);
        Assert.Equal(2000, s[MemoryCategory.Unattributed]);
        Assert.Equal(start - 8000 - 1_000_000, s.AllocatorBytes);
        Assert.Equal(Math.Max(start, start - 8000 + walk) - 1_000_000, s.PeakBytes);
    }

    [Fact]
    public void A_phase_whose_top_the_loop_marked_is_started_as_probed_until_it_is_not_marked_again()
    {
        using var model = nn.Linear(100, 10);
        var truth = new ScriptedTruth { InUseBytes = 1_000_000 };
        using var accountant = new MemoryAccountant(model, () => [], truth: truth);

        // Steps 0 and 1 mark the optimizer step's top; step 2 does not (the loop changed); step 3 runs
        // after it. A read without a mark where the temporaries begin (the loss's, in forward) adds
        // a figure but does not make its phase probed.
        for (int step = 0; step < 4; step++)
        {
            using (accountant.Phase(step, Phase.Backward))
            {
                accountant.SamplePeak();
            }

            using (accountant.Phase(step, Phase.OptimizerStep))
            {
                if (step < 2)
                {
                    accountant.BeginTransient();
                    accountant.SamplePeak();
                }
            }
        }

        Assert.Equal(
            [("backward", false), ("optimizer_step", false), ("backward", false), ("optimizer_step", true),
             ("backward", false), ("optimizer_step", true), ("backward", false), ("optimizer_step", false)],
            truth.Begun);
    }

    [Fact]
    public void A_phase_that_continues_the_last_starts_from_its_end_figure()
    {
        using var model = nn.Linear(100, 10);
        var truth = new ScriptedTruth { InUseBytes = 1_000_000 };
        using var accountant = new MemoryAccountant(model, () => [], truth: truth);

        // No phase has ended yet: nothing to continue from.
        truth.InUseBytes = truth.PeakBytes = 1_200_000;
        using (accountant.Phase(0, Phase.Forward, continuesLast: true))
        {
            truth.InUseBytes = truth.PeakBytes = 1_500_000;
        }

        using (accountant.Phase(0, Phase.Backward, continuesLast: true))
        {
            truth.InUseBytes = 1_300_000;
        }

        // A new batch comes between zero_grad and the next forward: that one reads afresh.
        truth.InUseBytes = 1_310_000;
        using (accountant.Phase(1, Phase.Forward))
        {
        }

        Assert.Equal([null, 1_500_000, null], truth.StartsGiven);
    }

    [Fact]
    public void Declared_inputs_are_counted_once_per_storage_until_disposed_or_declared_again()
    {
        using var model = nn.Linear(100, 10);
        var truth = new ScriptedTruth { InUseBytes = 1_000_000 };
        using var accountant = new MemoryAccountant(model, () => [], truth: truth);
        using Tensor ids = zeros(64, ScalarType.Int64);
        Tensor labels = zeros(32, ScalarType.Int64);

        long InputsAfterPhase(int step)
        {
            using (accountant.Phase(step, Phase.Forward))
            {
            }

            return accountant.Snapshots[^1][MemoryCategory.Inputs];
        }

        // A view of the ids shares their storage.
        accountant.SetInputs(ids, labels, ids.narrow(0, 0, 8));
        Assert.Equal(64 * 8 + 32 * 8, InputsAfterPhase(0));
        Assert.Equal(64 * 8 + 32 * 8, InputsAfterPhase(1));
        labels.Dispose();
        Assert.Equal(64 * 8, InputsAfterPhase(2));
        using Tensor next = zeros(16, ScalarType.Int64);
        accountant.SetInputs(next);
        Assert.Equal(16 * 8, InputsAfterPhase(3));
        accountant.SetInputs();
        Assert.Equal(0, InputsAfterPhase(4));
    }

    [Fact]
    public void Optimizer_state_is_recounted_when_its_tensors_change_and_kept_while_updated_in_place()
    {
        using var model = nn.Linear(100, 10);
        var truth = new ScriptedTruth { InUseBytes = 1_000_000 };
        using Tensor a = zeros(1000);
        using Tensor b = zeros(3000);
        Tensor replaced = zeros(1000);
        var state = new List<Tensor>();
        using var accountant = new MemoryAccountant(model, () => state, truth: truth);

        long OptimizerStateAfterStep(int step)
        {
            using (accountant.Phase(step, Phase.OptimizerStep))
            {
            }

            return accountant.Snapshots[^1][MemoryCategory.OptimizerState];
        }

        Assert.Equal(0, OptimizerStateAfterStep(0));
        state.Add(a);
        Assert.Equal(4000, OptimizerStateAfterStep(1));
        a.mul_(2); // updated in place: the same tensor, the same storage
        Assert.Equal(4000, OptimizerStateAfterStep(2));
        state[0] = b; // replaced by a tensor of another size
        Assert.Equal(12_000, OptimizerStateAfterStep(3));
        state.Add(a);
        Assert.Equal(16_000, OptimizerStateAfterStep(4));
        state.Add(a.view(10, 100)); // a view of a counted storage adds nothing
        Assert.Equal(16_000, OptimizerStateAfterStep(5));
        state.RemoveAt(2);
        state.Add(replaced);
        Assert.Equal(20_000, OptimizerStateAfterStep(6));
        // Disposed and replaced by a smaller one (AMSGrad's pattern): the new handle is counted afresh.
        replaced.Dispose();
        state[2] = zeros(10);
        Assert.Equal(16_040, OptimizerStateAfterStep(7));

        // State not made yet (SGD's momentum before its first step) is listed as null and skipped.
        using var early = new MemoryAccountant(model, () => [null!, a], truth: truth);
        using (early.Phase(0, Phase.OptimizerStep))
        {
        }

        Assert.Equal(4000, early.Snapshots[^1][MemoryCategory.OptimizerState]);
    }

    [Fact]
    public void Marks_outside_a_phase_and_a_second_begin_are_ignored()
    {
        using var model = nn.Linear(100, 10);
        var truth = new ScriptedTruth { InUseBytes = 1_000_000 };
        using var accountant = new MemoryAccountant(model, () => [], truth: truth);

        long start = 1_000_000 + 1010 * 4;
        truth.InUseBytes = start;
        accountant.BeginTransient();
        accountant.SamplePeak();
        using (accountant.Phase(1, Phase.OptimizerStep))
        {
            accountant.BeginTransient();
            truth.InUseBytes = truth.PeakBytes = start + 30_000;
            // A second walk over the parameters (the optimizer's state listing) marks nothing new.
            accountant.BeginTransient();
            accountant.SamplePeak();
            truth.InUseBytes = start;
        }

        Assert.Equal(30_000, Assert.Single(accountant.Snapshots)[MemoryCategory.Temporary]);
    }

    [Fact]
    public void Without_a_cuda_driver_the_gpu_truth_says_why()
    {
        Assert.SkipWhen(NativeLibrary.TryLoad("libcuda.so.1", out _), "a CUDA driver is present: this test covers machines without one");

        Assert.Null(CudaMemoryTruth.TryOpen(0, null, out string? reason));
        Assert.Contains("libcuda.so.1", reason, StringComparison.Ordinal);
    }
}

public sealed class JitSlabCacheTests
{
    [Theory]
    [InlineData("0", true)]
    [InlineData("0x0", true)]
    [InlineData(" 00 ", true)]
    [InlineData("1000000", false)] // hexadecimal, as the runtime reads it: 16 MiB, its default
    [InlineData("0x10", false)]
    [InlineData("", false)]
    [InlineData("off", false)]
    [InlineData(null, false)]
    public void The_setting_is_read_as_the_runtime_reads_it(string? value, bool off) =>
        Assert.Equal(off, JitSlabCache.IsZero(value));

    [Fact]
    public void Test_processes_run_with_the_cache_off_as_gputel_finetune_does() =>
        // test.runsettings sets it: the in-process training runs measure as the CLI's do.
        Assert.True(JitSlabCache.IsOff, $"{JitSlabCache.Variable} is not 0 in this test process: run the tests through `dotnet test` (tests/test.runsettings)");
}
