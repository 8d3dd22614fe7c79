using Gputel.Core.Estimation;
using Gputel.Core.Memory;
using Gputel.Core.Model;
using Gputel.Core.Reports;
using Gputel.Core.Snapshots;
using Gputel.Core.Training;
using Gputel.Tests.Support;

namespace Gputel.Core.Tests.Snapshots;

/// <summary>
/// The estimator against a real PyTorch run: the decoder-only LM of
/// <c>transformer-lm-adamw-fullstep.pickle</c> (forward, backward and an AdamW step at context 128,
/// fp32, every parameter trained), its shape read from the snapshot itself, then estimated as
/// <c>gputel estimate</c> would and compared category by category with <c>gputel report</c>'s replay.
/// </summary>
public sealed class EstimateAgainstSnapshotTests
{
    private const double MiB = 1024 * 1024;

    // The README of ../shared/reference/pytorch-snapshots: context 128. Nothing in the sizes
    // alone tells the sequence length from the batch, so it is taken as given.
    private const int Context = 128;

    private static string PathOf(string name)
    {
        string path = Path.Combine(Repo.Root, "..", "shared", "reference", "pytorch-snapshots", name);
        Assert.SkipUnless(File.Exists(path), $"the reference snapshot {name} is not beside the repository (../shared/reference/pytorch-snapshots)");
        return path;
    }

    /// <summary>
    /// The model as the snapshot tells it. AdamW allocates both moments of every parameter in its
    /// first step, and they outlive the step: the blocks allocated between the optimizer's START and
    /// END annotations and never freed are two per parameter, each exactly the parameter's size. Of
    /// a Llama-style decoder's parameters, the smallest are the RMSNorm weights (hidden size; two a
    /// layer and the final one), the hidden x hidden ones are q/k/v/o (four a layer, and only those
    /// with as many key/value heads as query heads), the three a layer of another size the SwiGLU
    /// MLP, and the two left the embedding and an untied LM head. The batch comes from the first
    /// activation (the embedding's output, batch x context x hidden in fp32), the heads from the
    /// attention scores (batch x heads x context x context) that the model's own
    /// <c>scaled_dot_product_attention</c> allocates.
    /// </summary>
    internal static (ModelShape Shape, int Batch, long[] ParameterSizes) InferShape(CudaSnapshot snapshot)
    {
        DeviceSnapshot device = snapshot.Devices.Single(d => d.Trace.Count > 0);
        long start = device.Annotations.First(a => a.Start && a.Name.StartsWith("Optimizer.step", StringComparison.Ordinal)).TimeUs;
        long end = device.Annotations.Last(a => !a.Start && a.Name.StartsWith("Optimizer.step", StringComparison.Ordinal)).TimeUs;
        var kept = new Dictionary<ulong, long>();
        foreach (TraceEvent e in device.Trace)
        {
            if (e.Action == TraceAction.Alloc && e.TimeUs >= start && e.TimeUs <= end)
            {
                kept[e.Address] = e.Size;
            }
            else if (e.Action == TraceAction.FreeCompleted)
            {
                kept.Remove(e.Address);
            }
        }

        // Two moments of each parameter: every size comes an even number of times.
        var bySize = kept.Values.GroupBy(s => s).ToDictionary(g => g.Key / 4, g => g.Count());
        Assert.All(bySize.Values, n => Assert.True(n % 2 == 0, "the kept blocks do not pair up as two moments"));
        var counts = bySize.ToDictionary(p => p.Key, p => p.Value / 2);
        Assert.Equal(4, counts.Count);

        long hidden = counts.Keys.Min();
        int layers = (counts[hidden] - 1) / 2;
        Assert.Equal(2 * layers + 1, counts[hidden]);
        Assert.Equal(4 * layers, counts[hidden * hidden]);
        long mlp = counts.Single(p => p.Value == 3 * layers).Key;
        long embedding = counts.Single(p => p.Value == 2).Key;

        StackFrame[] Innermost(TraceEvent e) => snapshot.Stacks[e.Stack];
        TraceEvent first = device.Trace.First(e => e.Action == TraceAction.Alloc && e.Size % (Context * hidden * 4) == 0);
        int batch = (int)(first.Size / (Context * hidden * 4));
        TraceEvent scores = device.Trace.Where(e => e.Action == TraceAction.Alloc && Innermost(e).Any(f => f.Name == "scaled_dot_product_attention")).MaxBy(e => e.Size);
        int heads = (int)(scores.Size / ((long)batch * Context * Context * 4));
        Assert.Equal(scores.Size, (long)batch * heads * Context * Context * 4);

        var shape = new ModelShape(
            VocabSize: embedding / hidden, HiddenSize: hidden, IntermediateSize: mlp / hidden, Layers: layers,
            AttentionHeads: heads, KeyValueHeads: heads, HeadDim: hidden / heads, MaxPositions: Context,
            RopeTheta: 10_000, RmsNormEps: 1e-5, TiedEmbeddings: false, AttentionBias: false);
        return (shape, batch, [.. kept.Values]);
    }

    [Fact]
    public void The_shape_read_from_the_snapshot_accounts_for_every_parameter_it_holds()
    {
        CudaSnapshot snapshot = SnapshotReader.Read(PathOf("transformer-lm-adamw-fullstep.pickle"));

        (ModelShape shape, int batch, long[] sizes) = InferShape(snapshot);

        // CS336's "2.7B" configuration: d_model 2560, d_ff 10240, 32 layers, 32 heads, vocabulary 10,000.
        Assert.Equal(new ModelShape(10_000, 2560, 10_240, 32, 32, 32, 80, Context, 10_000, 1e-5, false, false), shape);
        Assert.Equal(4, batch);
        // The shape's own count, from its formula, is every element of both moments, halved.
        Assert.Equal(sizes.Sum() / 2 / 4, shape.ParameterCount().Total);
    }

    [Fact]
    public void The_estimate_for_the_inferred_shape_matches_the_snapshot_category_by_category()
    {
        string path = PathOf("transformer-lm-adamw-fullstep.pickle");
        (ModelShape shape, int batch, _) = InferShape(SnapshotReader.Read(path));
        RunSummary summary = RunReport.ReadSnapshot(path).Summary;
        // Its model computes attention as written out (scores, softmax, then the product), as the
        // estimator's eager attention does; fp32 throughout, AdamW, every parameter trained.
        MemoryEstimate estimate = MemoryEstimator.Estimate(new EstimateRequest
        {
            Shape = shape,
            ModelName = "cs336-2.7b",
            Method = FineTuneMethod.Full,
            Dtype = "fp32",
            Optimizer = OptimizerKind.AdamW,
            BatchSize = batch,
            CutoffLength = Context,
            Attention = "eager",
            Device = ComputeDevice.Cuda(),
        });

        PhaseMemory Phase(Phase phase) => summary.PhasePeaks.Single(p => p.Phase == phase).Step0!;
        PhaseMemory forward = Phase(Training.Phase.Forward), backward = Phase(Training.Phase.Backward), step = Phase(Training.Phase.OptimizerStep);
        long measuredTemporary = step.Bytes["temporary"];
        var rows = new (string Category, long Estimated, long Measured)[]
        {
            // Loaded before recording began: the snapshot names no stack for them, so its
            // before_recording row stands for the weights.
            ("weights", estimate[MemoryCategory.Weights], step.Bytes["before_recording"]),
            ("gradients", estimate.BackwardGradients, backward.Bytes["gradients"]),
            ("optimizer_state", estimate[MemoryCategory.OptimizerState], step.Bytes["optimizer_state"]),
            ("activations (forward)", estimate.ForwardActivations, forward.Bytes["activations"]),
            ("temporary (optimizer step)", estimate[MemoryCategory.Temporary], measuredTemporary),
            // In use at the peak (the allocator's cache and the CUDA context are not tensors: the
            // snapshot sees the former only as reserved segments and the latter not at all).
            ("peak in use", InUse(estimate), step.AllocatorBytes),
        };
        foreach ((string category, long estimated, long measured) in rows)
        {
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"{category,-28} estimated {estimated / MiB,10:0.0} MiB  measured {measured / MiB,10:0.0} MiB  error {(estimated - measured) / MiB,9:+0.0;-0.0} MiB ({100.0 * (estimated - measured) / measured:+0.00;-0.00} %)");
        }

        (long estimatedWeights, long measuredWeights) = (rows[0].Estimated, rows[0].Measured);
        // before_recording is the weights plus the allocator's rounding: a block that could not be
        // split keeps its whole rounded size (128 of the 25 MiB projections sit in 26 MiB blocks),
        // and a few buffers (RoPE tables) predate the recording too. Never less, and under 1 % more.
        Assert.InRange(measuredWeights, estimatedWeights, estimatedWeights + estimatedWeights / 100);
        // The report files cuBLAS's 32 MiB workspace, first allocated in backward, with the
        // gradients: 0.25 % here; 0.5 % allows it and nothing the size of a layer's gradients (1.1 %).
        AssertWithin(rows[1], 0.005);
        // Both moments are allocated at exactly the parameters' size: no rounding, no slack.
        Assert.Equal(rows[2].Measured, rows[2].Estimated);

        // Activations come out 12.9 % under: this model is not Hugging Face's Llama in two places,
        // both seen in the blocks alive at the end of forward. Its SiLU is written x * sigmoid(x),
        // which keeps sigmoid(x) (batch x context x d_ff fp32) besides x, and its causal mask is a
        // boolean batch x heads x context x context tensor made in each layer and kept for backward.
        // With those two per layer added the estimate must be within 1 % (the rest of forward is
        // the same graph, tensor for tensor); 15 % for the estimate as it is.
        long perLayer = (batch * Context * shape.IntermediateSize * 4) + ((long)batch * shape.AttentionHeads * Context * Context);
        AssertWithin(rows[3] with { Estimated = rows[3].Estimated + (shape.Layers * perLayer) }, 0.01);
        AssertWithin(rows[3], 0.15);

        // The optimizer step's temporaries are where the estimate is wrong for this run: it counts
        // torch.optim.AdamW's foreach path (sqrt(v) of every parameter at once, the default on
        // CUDA), while this run's AdamW (its own optimizers.py) loops over the parameters and holds
        // one parameter's temporaries at a time (195 MiB: two of the 98 MiB embedding). So the
        // estimated peak in use is 24 % over; without each side's temporaries the two agree within 1 %.
        Assert.True(rows[4].Estimated > 10 * rows[4].Measured, "the estimate no longer counts foreach AdamW's temporaries: revisit this comparison");
        AssertWithin(rows[5] with { Estimated = rows[5].Estimated - rows[4].Estimated, Measured = rows[5].Measured - rows[4].Measured }, 0.01);
    }

    private static void AssertWithin((string Category, long Estimated, long Measured) row, double tolerance) =>
        Assert.True(
            Math.Abs(row.Estimated - row.Measured) <= tolerance * row.Measured,
            $"{row.Category}: estimated {row.Estimated / MiB:0.0} MiB, measured {row.Measured / MiB:0.0} MiB, beyond {tolerance:P1}");

    private static long InUse(MemoryEstimate estimate) =>
        estimate.PeakBytes - estimate[MemoryCategory.AllocatorCache] - estimate[MemoryCategory.Runtime];
}
