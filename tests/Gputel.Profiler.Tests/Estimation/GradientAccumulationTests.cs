using Gputel.Core.Estimation;
using Gputel.Core.Memory;
using Gputel.Core.Model;
using Gputel.Core.Records;
using Gputel.Core.Training;
using Gputel.Profiler.Memory;
using Gputel.Profiler.Model;
using Gputel.Profiler.Records;
using Gputel.Profiler.Training;

namespace Gputel.Profiler.Tests.Estimation;

/// <summary>
/// Gradient accumulation: from the first micro-batch's backward until zero_grad the gradients stay,
/// so every later micro-batch's forward and backward run with all of them beside the activations.
/// </summary>
public sealed class GradientAccumulationTests
{
    // Full fine-tuning of the tiny shape in fp32: 158,272 parameters x 4 B, the gradient figure
    // `gputel finetune --model tiny --method full --gradient-accumulation 2` measures in its second
    // micro-batch's forward pass.
    private const long TinyFullGradients = 633_088;

    private static readonly EstimateRequest TinyFull = new()
    {
        Shape = ModelShape.Tiny,
        ModelName = "tiny",
        Method = FineTuneMethod.Full,
        Dtype = "fp32",
        BatchSize = 1,
        CutoffLength = 128,
        Device = ComputeDevice.Cpu,
    };

    private static EstimateRequest Tiny(int accumulation) => TinyFull with { GradientAccumulation = accumulation };

    [Fact]
    public void Without_accumulation_nothing_changes()
    {
        MemoryEstimate unset = MemoryEstimator.Estimate(TinyFull);
        MemoryEstimate one = MemoryEstimator.Estimate(Tiny(1));

        Assert.Equal(1, TinyFull.GradientAccumulation);
        Assert.Equal(unset.Lines, one.Lines);
        // Backward peaks with every activation alive and no gradient yet.
        Assert.Equal(Phase.Backward, one.PeakPhase);
        Assert.Equal(0, one[MemoryCategory.Gradients]);
        Assert.Equal(TinyFullGradients, one.BackwardGradients);
        Assert.StartsWith("none yet at the peak (backward)", one.Lines[(int)MemoryCategory.Gradients].Formula, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(8)]
    public void Backward_of_a_later_micro_batch_carries_every_gradient(int accumulation)
    {
        MemoryEstimate one = MemoryEstimator.Estimate(Tiny(1));
        MemoryEstimate accumulating = MemoryEstimator.Estimate(Tiny(accumulation));

        Assert.Equal(Phase.Backward, accumulating.PeakPhase);
        Assert.Equal(TinyFullGradients, accumulating[MemoryCategory.Gradients]);
        Assert.Equal(one.BackwardGradients, accumulating[MemoryCategory.Gradients]);
        Assert.Equal(one.PeakBytes + TinyFullGradients, accumulating.PeakBytes);
        // The rest of the peak is the same moment's: activations, the loss gradients, the batch.
        foreach (MemoryCategory category in MemoryCategories.All.Where(c => c != MemoryCategory.Gradients))
        {
            Assert.Equal(one[category], accumulating[category]);
        }

        Assert.EndsWith($"held from the first micro-batch's backward through the next micro-batches' forward and backward passes (gradient accumulation {accumulation})",
            accumulating.Lines[(int)MemoryCategory.Gradients].Formula, StringComparison.Ordinal);
    }

    [Fact]
    public void Forward_of_a_later_micro_batch_carries_every_gradient()
    {
        // A shape whose forward pass peaks: a checkpointed layer's MLP intermediates (4 x 128 x 1024
        // x 4 B = 2 MiB) outgrow both the loss gradients over a 1,792-token vocabulary and the
        // recomputed layer of LoRA on q_proj alone.
        var shape = new ModelShape(1792, 64, 1024, 2, 4, 2, 16, 128, 10_000, 1e-6, false, true);
        var request = new EstimateRequest
        {
            Shape = shape,
            Method = FineTuneMethod.Lora,
            Lora = new LoraSettings(8, 16, 0, ["q_proj"]),
            Dtype = "fp32",
            BatchSize = 1,
            CutoffLength = 128,
            GradientCheckpointing = true,
            Device = ComputeDevice.Cpu,
        };
        MemoryEstimate one = MemoryEstimator.Estimate(request);
        MemoryEstimate two = MemoryEstimator.Estimate(request with { GradientAccumulation = 2 });

        Assert.Equal(Phase.Forward, one.PeakPhase);
        Assert.Equal(Phase.Forward, two.PeakPhase);
        // 2 layers x (A 64 x 8 + B 8 x 64) x 4 B.
        const long loraGradients = 8_192;
        Assert.Equal(loraGradients, one.BackwardGradients);
        Assert.Equal(0, one[MemoryCategory.Gradients]);
        Assert.Equal(loraGradients, two[MemoryCategory.Gradients]);
        Assert.Equal(one.PeakBytes + loraGradients, two.PeakBytes);
        Assert.Equal(4L * 128 * 1024 * 4, two[MemoryCategory.Temporary]);
    }

    [Fact]
    public void Where_the_optimizer_step_peaks_accumulation_changes_nothing()
    {
        // Full fine-tuning of a 1.5B model on short micro-batches: the optimizer step (gradients,
        // state and AdamW's buffers) tops a micro-batch's activations even with the gradients beside them.
        var request = new EstimateRequest { Shape = ModelShape.Named("qwen2-1.5b"), Method = FineTuneMethod.Full, BatchSize = 2, CutoffLength = 256, Device = ComputeDevice.Cpu };
        MemoryEstimate one = MemoryEstimator.Estimate(request);
        MemoryEstimate four = MemoryEstimator.Estimate(request with { GradientAccumulation = 4 });

        Assert.Equal(Phase.OptimizerStep, four.PeakPhase);
        Assert.Equal(one.PeakBytes, four.PeakBytes);
        Assert.Equal(one[MemoryCategory.Gradients], four[MemoryCategory.Gradients]);
        Assert.Equal(1_777_088_000L * 2, four[MemoryCategory.Gradients]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-2)]
    public void Fewer_than_one_micro_batch_is_refused(int accumulation)
    {
        var e = Assert.Throws<ArgumentException>(() => MemoryEstimator.Estimate(Tiny(accumulation)));
        Assert.Contains($"gradient accumulation must be at least 1 micro-batch per step, not {accumulation}", e.Message, StringComparison.Ordinal);
    }

    private static RunInfo Run(string? accumulation)
    {
        var settings = new Dictionary<string, string> { ["batch_size"] = "1", ["cutoff_length"] = "128" };
        if (accumulation is not null)
        {
            settings["gradient_accumulation"] = accumulation;
        }

        return new RunInfo("r", "tiny", "full", "fp32", ComputeDevice.Cpu, DateTimeOffset.UnixEpoch, settings, new Dictionary<string, string>());
    }

    [Fact]
    public void A_run_record_gives_its_accumulation()
    {
        EstimateRequest request = EstimateRequest.FromRunInfo(Run("2"));

        Assert.Equal(2, request.GradientAccumulation);
        Assert.Equal(TinyFullGradients, MemoryEstimator.Estimate(request)[MemoryCategory.Gradients]);
    }

    [Fact]
    public void A_record_written_before_accumulation_was_recorded_reads_as_one()
    {
        Assert.Equal(1, EstimateRequest.FromRunInfo(Run(null)).GradientAccumulation);
    }

    [Theory]
    [InlineData("two")]
    [InlineData("0")]
    [InlineData("1.5")]
    public void A_bad_accumulation_in_a_run_record_is_refused(string value)
    {
        var e = Assert.Throws<InvalidDataException>(() => EstimateRequest.FromRunInfo(Run(value)));
        Assert.Contains($"gradient_accumulation '{value}'", e.Message, StringComparison.Ordinal);
    }
}
