using Gputel.Core.Data;
using Gputel.Core.Estimation;
using Gputel.Core.Model;
using Gputel.Core.Reports;
using Gputel.Core.Training;

namespace Gputel.Core.Tests.Estimation;

/// <summary>The fit search on built-in shapes, checked against the estimator it calls.</summary>
public sealed class FitSearchTests
{
    private const long GiB = 1L << 30;

    private static readonly EstimateRequest Qwen7B = new() { Shape = ModelShape.Qwen2_7B, ModelName = "qwen2-7b", Gpus = 8 };

    private static FitDimension[] Dimensions(int? cutoff = 2048, int gpus = 8) =>
    [
        FitDimension.Methods(),
        FitDimension.Cutoffs(cutoff, ModelShape.Qwen2_7B.MaxPositions),
        FitDimension.BatchSizes(),
        FitDimension.Checkpointing(),
        FitDimension.ZeroStages(gpus),
    ];

    [Fact]
    public void Every_configuration_listed_fits_and_every_one_left_out_does_not()
    {
        FitDimension[] dimensions = Dimensions();
        FitResult result = FitSearch.Run(Qwen7B, dimensions, 80 * GiB, FitMargin.Default, allVariants: true);

        // 3 methods x 7 batches x 2 checkpointing x 4 stages, all distinct.
        Assert.Equal(168, result.Considered);
        Assert.Equal(76 * GiB, result.UsableBytes);
        Assert.Equal(result.Fitting, result.Listed.Count);
        Assert.InRange(result.Fitting, 1, 167);
        foreach (FitCandidate c in result.Listed)
        {
            long peak = MemoryEstimator.Estimate(c.Request).PeakBytes;
            Assert.Equal(peak, c.Estimate.PeakBytes);
            Assert.True(peak <= result.UsableBytes, $"{string.Join(' ', c.Labels)}: {peak}");
            Assert.Equal(80 * GiB - peak, c.HeadroomBytes);
        }

        // What is not listed does not fit: count them from the estimator directly.
        int fits = 0;
        foreach (var method in new[] { FineTuneMethod.Full, FineTuneMethod.Freeze, FineTuneMethod.Lora })
        {
            foreach (int batch in FitDimension.StandardBatchSizes)
            {
                foreach (bool checkpointing in new[] { false, true })
                {
                    for (int stage = 0; stage <= 3; stage++)
                    {
                        var r = Qwen7B with { Method = method, BatchSize = batch, CutoffLength = 2048, GradientCheckpointing = checkpointing, ZeroStage = stage };
                        fits += MemoryEstimator.Estimate(r).PeakBytes <= 76 * GiB ? 1 : 0;
                    }
                }
            }
        }

        Assert.Equal(fits, result.Fitting);
    }

    [Fact]
    public void The_ranking_puts_the_largest_batch_then_the_cheapest_way_first()
    {
        FitResult result = FitSearch.Run(Qwen7B, Dimensions(), 80 * GiB, FitMargin.Default);

        Assert.NotEmpty(result.Listed);
        foreach ((FitCandidate a, FitCandidate b) in result.Listed.Zip(result.Listed.Skip(1)))
        {
            Assert.True(a.EffectiveBatch >= b.EffectiveBatch);
            if (a.EffectiveBatch == b.EffectiveBatch)
            {
                Assert.True(a.ComputeFactor < b.ComputeFactor
                    || (a.ComputeFactor == b.ComputeFactor && (a.CommunicationFactor < b.CommunicationFactor
                        || (a.CommunicationFactor == b.CommunicationFactor && a.HeadroomBytes >= b.HeadroomBytes))));
            }
        }

        // One way per training (method, cutoff, batch): the best ranked of its variants.
        Assert.Equal(result.Listed.Count, result.Listed.Select(c => (c.Labels[0], c.Labels[1], c.Labels[2])).Distinct().Count());
        FitResult all = FitSearch.Run(Qwen7B, Dimensions(), 80 * GiB, FitMargin.Default, allVariants: true);
        foreach (FitCandidate c in result.Listed)
        {
            FitCandidate first = all.Listed.First(v => v.Labels.Take(3).SequenceEqual(c.Labels.Take(3)));
            Assert.Equal(first.Labels, c.Labels);
        }
    }

    [Fact]
    public void A_configuration_just_above_the_budget_is_left_out()
    {
        var request = Qwen7B with { Method = FineTuneMethod.Lora, BatchSize = 4, CutoffLength = 2048, ZeroStage = 2 };
        long peak = MemoryEstimator.Estimate(request).PeakBytes;
        FitDimension[] one =
        [
            FitDimension.Methods([FineTuneMethod.Lora]), FitDimension.Cutoffs(2048, 32_768), FitDimension.BatchSizes([4]),
            new FitDimension(FitDimension.ZeroName, [new FitChoice("2", r => r with { ZeroStage = 2 })]),
        ];

        Assert.Single(FitSearch.Run(Qwen7B, one, peak, new FitMargin(0)).Listed);
        Assert.Empty(FitSearch.Run(Qwen7B, one, peak - 1, new FitMargin(0)).Listed);
        Assert.Empty(FitSearch.Run(Qwen7B, one, peak + GiB - 1, new FitMargin(0, GiB)).Listed);
        Assert.Single(FitSearch.Run(Qwen7B, one, peak + GiB, new FitMargin(0, GiB)).Listed);
    }

    [Fact]
    public void With_data_batches_are_padded_to_the_longest_example_and_longer_cutoffs_collapse()
    {
        // Examples of 100 to 700 tokens: cutoff 512 cuts the longest; 1024 and above cut nothing and pad the same.
        var lengths = new SequenceLengths(Enumerable.Range(100, 601));
        FitDimension[] dimensions = [FitDimension.Methods([FineTuneMethod.Lora]), FitDimension.Cutoffs(null, 32_768), FitDimension.BatchSizes([1, 8])];

        FitResult result = FitSearch.Run(Qwen7B, dimensions, 80 * GiB, FitMargin.Default, lengths);

        Assert.Equal(4, result.Considered);
        Assert.Equal(["1024", "1024", "512", "512"], result.Listed.Select(c => c.Labels[1]));
        FitCandidate longest = result.Listed[0];
        Assert.Equal(700, longest.BatchLength);
        Assert.Equal(MemoryEstimator.Estimate(longest.Request with { CutoffLength = 700 }).PeakBytes, longest.Estimate.PeakBytes);
        Assert.Equal(lengths.TypicalBatchLength(8, 1024), longest.TypicalLength);
        Assert.True(longest.Typical!.PeakBytes < longest.Estimate.PeakBytes);
        Assert.Equal(512, result.Listed[2].BatchLength);
    }

    [Fact]
    public void Checkpointing_costs_a_third_more_compute_and_zero_3_half_more_communication()
    {
        FitResult result = FitSearch.Run(Qwen7B, Dimensions(), 80 * GiB, FitMargin.Default, allVariants: true);

        foreach (FitCandidate c in result.Listed)
        {
            Assert.Equal(c.Request.GradientCheckpointing ? 4.0 / 3 : 1.0, c.ComputeFactor, 9);
            Assert.Equal(c.Request.ZeroStage == 3 ? 1.5 : 1.0, c.CommunicationFactor, 9);
        }

        Assert.Equal(["0"], FitDimension.ZeroStages(1).Choices.Select(c => c.Label));
    }

    [Theory]
    [InlineData("80GiB", 80L << 30)]
    [InlineData("81920MiB", 80L << 30)]
    [InlineData("80 gib", 80L << 30)]
    [InlineData("80GB", 80_000_000_000L)]
    [InlineData("1.5GiB", 3L << 29)]
    [InlineData("512B", 512L)]
    [InlineData("24576kib", 24L << 20)]
    public void Sizes_are_read_in_binary_and_decimal_units(string text, long bytes)
    {
        Assert.True(ByteText.TryParseSize(text, out long parsed));
        Assert.Equal(bytes, parsed);
    }

    [Theory]
    [InlineData("80")]
    [InlineData("GiB")]
    [InlineData("80XB")]
    [InlineData("-5GiB")]
    [InlineData("0GiB")]
    [InlineData("1e3MiB")]
    [InlineData("eighty GiB")]
    [InlineData("")]
    public void Junk_sizes_are_refused(string text) => Assert.False(ByteText.TryParseSize(text, out _));

    [Fact]
    public void A_margin_is_a_share_or_a_size()
    {
        Assert.Equal(4L << 30, FitMargin.Parse("5%").Reserve(80L << 30));
        Assert.Equal(1L << 30, FitMargin.Parse("1GiB").Reserve(80L << 30));
        Assert.Equal(0, FitMargin.Parse("0%").Reserve(80L << 30));
        Assert.Throws<ArgumentException>(() => FitMargin.Parse("100%"));
        Assert.Throws<ArgumentException>(() => FitMargin.Parse("lots"));
    }

    [Fact]
    public void Under_mixed_precision_a_32b_full_fine_tune_on_one_gpu_fits_only_with_offload()
    {
        var request = new EstimateRequest { Shape = ModelShape.Qwen25_32B, ModelName = "qwen2.5-32b", Gpus = 1, Dtype = "bf16-mixed", Method = FineTuneMethod.Full };
        FitDimension[] dimensions =
        [
            FitDimension.Cutoffs(1024, ModelShape.Qwen25_32B.MaxPositions),
            FitDimension.BatchSizes([1]),
            FitDimension.Checkpointing(),
            FitDimension.ZeroStages(1, mixedPrecision: true),
        ];

        FitResult result = FitSearch.Run(request, dimensions, 80 * GiB, FitMargin.Default, allVariants: true);

        // Stage 0 and the three offload choices, with checkpointing off and on.
        Assert.Equal(8, result.Considered);
        // Without offload 20 B x 32.8 B parameters (fp32 weights, gradients, moments, the step's list)
        // stay on the GPU. With the optimizer offloaded DeepSpeed keeps 2P = 65.5 GB (61 GiB) under
        // the 76 GiB usable; with the parameters too, the largest layer alone (4 B x 778 M).
        Assert.Contains(result.Listed, c => (c.Request.ZeroStage, c.Request.Offload) == (3, ZeroOffload.Params));
        Assert.All(result.Listed, c => Assert.NotEqual(ZeroOffload.None, c.Request.Offload));
        Assert.Empty(FitSearch.Run(request with { Dtype = "bf16" }, [.. dimensions[..3], FitDimension.ZeroStages(1)], 80 * GiB, FitMargin.Default).Listed);
    }
}
