using Gputel.Core.Estimation;
using Gputel.Core.Memory;
using Gputel.Core.Model;
using Gputel.Core.Training;

namespace Gputel.Core.Tests.Estimation;

/// <summary>
/// Mixed precision, QLoRA, DeepSpeed ZeRO with offload and the preference/reward stages, each
/// against figures worked out by hand from the formula (the arithmetic is in the comments).
/// </summary>
public sealed class TrainingVariantTests
{
    private const double GiB = 1024.0 * 1024 * 1024;

    // Tiny: vocabulary 512, hidden 64, MLP 176, 2 layers, 4 heads of 16, 2 KV heads, untied, q/k/v bias.
    // Parameters: embedding and head 2 x 512 x 64 = 65,536; per layer attention 64 x 64 + 2 x 64 x 32 +
    // 64 x 64 + 128 bias = 12,416, MLP 3 x 64 x 176 = 33,792, norms 128 (46,336); final norm 64:
    // 65,536 + 92,672 + 64 = 158,272.
    private const long TinyParameters = 158_272;

    private static EstimateRequest Tiny(FineTuneMethod method, string dtype) => new()
    {
        Shape = ModelShape.Tiny,
        Method = method,
        Dtype = dtype,
        BatchSize = 1,
        CutoffLength = 64,
    };

    [Fact]
    public void Mixed_precision_keeps_what_trains_in_fp32_and_the_frozen_base_in_16_bit()
    {
        Assert.Equal(TinyParameters, ModelShape.Tiny.ParameterCount().Total);

        MemoryEstimate full = MemoryEstimator.Estimate(Tiny(FineTuneMethod.Full, "bf16-mixed"));
        // fp32 weights, gradients and two fp32 moments: 4 + 4 + 8 B per parameter.
        Assert.Equal(4 * TinyParameters, full[MemoryCategory.Weights]);
        Assert.Equal(4 * TinyParameters, full.BackwardGradients);
        Assert.Equal(8 * TinyParameters, full[MemoryCategory.OptimizerState]);

        // LoRA r8 on all seven: per layer 8 x ((64+64) + (64+32) x 2 + (64+64) + (64+176) x 3) = 9344, x 2 = 18,688.
        MemoryEstimate lora = MemoryEstimator.Estimate(Tiny(FineTuneMethod.Lora, "bf16-mixed"));
        Assert.Equal((2 * TinyParameters) + (4 * 18_688), lora[MemoryCategory.Weights]);
        Assert.Equal(8 * 18_688, lora[MemoryCategory.OptimizerState]);
    }

    [Fact]
    public void Mixed_precision_saves_autocasts_16_bit_weight_copies_for_backward()
    {
        MemoryEstimate pure = MemoryEstimator.Estimate(Tiny(FineTuneMethod.Full, "bf16"));
        MemoryEstimate mixed = MemoryEstimator.Estimate(Tiny(FineTuneMethod.Full, "bf16-mixed"));

        // Activations are 16-bit in both; mixed adds 2 B per projection weight (2 x 46,080, the
        // seven projections without biases) and the untied LM head (32,768).
        Assert.Equal(2 * ((2 * 46_080) + 32_768), mixed.ForwardActivations - pure.ForwardActivations);
    }

    [Theory]
    // 4-bit with double quantization: the 92,160 projection weights take 46,080 B, their 1440
    // blocks of 64 one 8-bit absmax each and 6 fp32 constants (one per 256 blocks): 47,544 B.
    [InlineData("4bit", true, 47_544L)]
    // 4-bit without: 46,080 + 4 x 1440 = 51,840.
    [InlineData("4bit", false, 51_840L)]
    // 8-bit: 92,160 B and one fp32 scale per output row: 2 x (64 + 32 + 32 + 64 + 176 + 176 + 64) = 1216 rows, 4864 B.
    [InlineData("8bit", true, 97_024L)]
    public void Qlora_keeps_the_projections_quantized_and_the_rest_in_16_bit(string quantization, bool doubleQuant, long quantizedBytes)
    {
        MemoryEstimate e = MemoryEstimator.Estimate(Tiny(FineTuneMethod.Lora, "bf16-mixed") with
        {
            Quantization = TrainingVariantNames.ParseQuantization(quantization),
            DoubleQuantization = doubleQuant,
        });

        // The rest of the base (158,272 - 92,160 = 66,112) in bf16, the 18,688 adapters in fp32.
        Assert.Equal(quantizedBytes + (2 * 66_112) + (4 * 18_688), e[MemoryCategory.Weights]);
    }

    [Fact]
    public void Quantization_needs_lora()
    {
        var error = Assert.Throws<ArgumentException>(() => MemoryEstimator.Estimate(Tiny(FineTuneMethod.Full, "bf16") with { Quantization = WeightQuantization.FourBit }));
        Assert.Contains("needs --method lora", error.Message, StringComparison.Ordinal);
    }

    private static EstimateRequest Qwen32B(int stage, ZeroOffload offload, int gpus = 8) => new()
    {
        Shape = ModelShape.FromConfigJson(ModelConfigTests.Config("deepseek-r1-distill-qwen-32b.json")),
        Method = FineTuneMethod.Full,
        Dtype = "bf16-mixed",
        Gpus = gpus,
        ZeroStage = stage,
        Offload = offload,
        BatchSize = 1,
        CutoffLength = 1024,
        GradientCheckpointing = true,
    };

    private static long ModelState(MemoryEstimate e) =>
        e[MemoryCategory.Weights] + e[MemoryCategory.OptimizerState] + e.BackwardGradients;

    [Fact]
    public void Zero_follows_deepspeeds_own_memory_estimators()
    {
        const long p = 32_763_876_352; // counted in ModelConfigTests
        // The largest layer is the embedding, 152,064 x 5120.
        const long largest = 152_064L * 5120;

        // ZeRO-2: 4P + 16P/N. ZeRO-3: 18P/N (each part rounded up on its own), plus 4 B x the largest layer gathered.
        Assert.Equal((4 * p) + (16 * p / 8), ModelState(MemoryEstimator.Estimate(Qwen32B(2, ZeroOffload.None))));
        MemoryEstimate zero3 = MemoryEstimator.Estimate(Qwen32B(3, ZeroOffload.None));
        Assert.InRange(ModelState(zero3), 18 * p / 8, (18 * p / 8) + 3);
        Assert.True(zero3[MemoryCategory.Temporary] >= 4 * largest);
        // With the optimizer offloaded: 2P (ZeRO-2) and 2P/N (ZeRO-3); with the parameters too, nothing.
        Assert.Equal(2 * p, ModelState(MemoryEstimator.Estimate(Qwen32B(2, ZeroOffload.Optimizer))));
        Assert.InRange(ModelState(MemoryEstimator.Estimate(Qwen32B(3, ZeroOffload.Optimizer))), 2 * p / 8, (2 * p / 8) + 1);
        Assert.Equal(0, ModelState(MemoryEstimator.Estimate(Qwen32B(3, ZeroOffload.Params, gpus: 1))));
    }

    [Fact]
    public void A_32b_full_fine_tune_on_8_gpus_of_48_gb_does_not_fit()
    {
        MemoryEstimate e = MemoryEstimator.Estimate(Qwen32B(3, ZeroOffload.None));

        // 18 B x 32.76 B parameters / 8 = 68.7 GiB of model state alone on each GPU.
        Assert.True(e.PeakBytes > 48 * GiB, $"peak {e.PeakBytes / GiB:0.0} GiB");
        Assert.True(e[MemoryCategory.Runtime] > MemoryEstimator.CudaRuntimeBytes, "NCCL's buffers are counted on each rank");
    }

    [Theory]
    [InlineData(3, 1, "none", "shards nothing")]
    [InlineData(0, 8, "optimizer", "needs DeepSpeed ZeRO-1, 2 or 3")]
    [InlineData(2, 8, "params", "needs DeepSpeed ZeRO-3")]
    public void Zero_settings_that_do_nothing_or_cannot_be_are_refused(int stage, int gpus, string offload, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => MemoryEstimator.Estimate(Qwen32B(stage, TrainingVariantNames.ParseOffload(offload), gpus)));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Dpo_runs_chosen_and_rejected_together_and_holds_a_reference_model_unless_lora()
    {
        EstimateRequest sft = Tiny(FineTuneMethod.Full, "bf16");
        MemoryEstimate dpo = MemoryEstimator.Estimate(sft with { Stage = TrainingStage.Dpo });

        Assert.Equal(MemoryEstimator.Estimate(sft with { BatchSize = 2 }).ForwardActivations, dpo.ForwardActivations);
        // A 16-bit copy of every parameter beside the policy's own 16-bit weights.
        Assert.Equal(2 * 2 * TinyParameters, dpo[MemoryCategory.Weights]);
        // LoRA's reference is the base with the adapters disabled: no copy.
        EstimateRequest lora = Tiny(FineTuneMethod.Lora, "bf16");
        Assert.Equal(MemoryEstimator.Estimate(lora)[MemoryCategory.Weights], MemoryEstimator.Estimate(lora with { Stage = TrainingStage.Dpo })[MemoryCategory.Weights]);
    }

    [Fact]
    public void Reward_modelling_trains_a_value_head_and_keeps_no_vocabulary_logits()
    {
        EstimateRequest sft = Tiny(FineTuneMethod.Full, "bf16");
        MemoryEstimate rm = MemoryEstimator.Estimate(sft with { Stage = TrainingStage.Rm });

        // Pairs: two sequences of 64 tokens. Without the logits (2 x 64 x 512 x 2 B = 131,072) and
        // the fp32 log-softmax (2 x 63 x 512 x 4 B = 258,048) the two-sequence forward keeps.
        Assert.Equal(MemoryEstimator.Estimate(sft with { BatchSize = 2 }).ForwardActivations - 131_072 - 258_048, rm.ForwardActivations);
        // The value head, Linear(64, 1) with bias: 65 more trainable parameters.
        Assert.Equal(2 * (TinyParameters + 65), rm.BackwardGradients);
    }

    [Fact]
    public void Ppo_of_a_full_model_holds_reference_and_reward_models()
    {
        EstimateRequest sft = Tiny(FineTuneMethod.Full, "bf16") with { CutoffLength = 4096 };
        MemoryEstimate ppo = MemoryEstimator.Estimate(sft with { Stage = TrainingStage.Ppo });

        // Policy with value head (158,337), reference (158,272) and reward model with its head (158,337), all 2 B.
        Assert.Equal(2 * ((TinyParameters + 65) + TinyParameters + (TinyParameters + 65)), ppo[MemoryCategory.Weights]);
    }
}
