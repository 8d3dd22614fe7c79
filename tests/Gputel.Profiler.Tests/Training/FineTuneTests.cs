using Gputel.Core.Estimation;
using Gputel.Core.Memory;
using Gputel.Core.Model;
using Gputel.Core.Records;
using Gputel.Core.Training;
using Gputel.Profiler.Memory;
using Gputel.Profiler.Records;
using Gputel.Profiler.Training;
using static TorchSharp.torch;

namespace Gputel.Profiler.Tests.Training;

/// <summary>The reference workload with the profiler attached, on the CPU, checked against numbers derived from the model's shape.</summary>
public sealed class FineTuneTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gputel-ft-" + Guid.NewGuid().ToString("N"));

    // Tiny, with a vocabulary large enough for the byte tokenizer (258 ids).
    private static readonly ModelShape Shape = ModelShape.Tiny with { VocabSize = 512 };

    // Big enough (about 90 MB at peak) that what glibc and libtorch keep outside any tensor (per-
    // thread caches of small freed blocks, which mallinfo2 counts as in use, and autograd's graph
    // nodes: together about 0.5-1 MB, with jumps to 2.5 MB now and then, whatever the model size) is
    // noise beside the 5% bound.
    private static readonly ModelShape Medium = Shape with { Layers = 4, HiddenSize = 384, IntermediateSize = 1056, AttentionHeads = 8, KeyValueHeads = 2, HeadDim = 48 };

    private FineTuneOptions Options(FineTuneMethod method) =>
        new(Shape, _dir) { ModelName = "tiny", Method = method, Steps = 3, BatchSize = 2, CutoffLength = 32, TrainableLayers = 1 };

    private static MemorySnapshot At(IReadOnlyList<MemorySnapshot> s, int step, string phase) => s.Single(x => x.Step == step && x.Phase.Name == phase);

    [Theory]
    [InlineData(ScalarType.Float32, 4)]
    [InlineData(ScalarType.BFloat16, 2)]
    public void Weights_are_the_analytic_parameter_count_times_the_dtype_size(ScalarType dtype, int size)
    {
        var snapshots = FineTuneRun.Run(Options(FineTuneMethod.Full) with { Dtype = dtype, Steps = 1 });
        Assert.All(snapshots, s => Assert.Equal(Shape.ParameterCount().Total * size, s[MemoryCategory.Weights]));
    }

    [Fact]
    public void Lora_gradients_and_adamw_state_cover_only_the_adapters()
    {
        FineTuneOptions options = Options(FineTuneMethod.Lora);
        long adapters = Shape.LoraParameterCount(options.Lora);
        var snapshots = FineTuneRun.Run(options);

        MemorySnapshot backward = At(snapshots, 1, "backward");
        Assert.Equal(adapters * 4, backward[MemoryCategory.Gradients]);
        Assert.Equal(2 * 4 * adapters, backward[MemoryCategory.OptimizerState]);
        // The base weights plus the adapters, each once.
        Assert.Equal((Shape.ParameterCount().Total + adapters) * 4, backward[MemoryCategory.Weights]);
    }

    [Fact]
    public void A_run_that_fails_keeps_its_steps_and_says_where_and_why_it_ended()
    {
        // libtorch's errors (a CUDA out-of-memory error among them) reach .NET as ExternalException;
        // here one is raised where the loop hands back control, after step 1's lines are written.
        var e = Assert.Throws<System.Runtime.InteropServices.ExternalException>(() => FineTuneRun.Run(Options(FineTuneMethod.Lora) with { Steps = 4 }, report =>
        {
            if (report.Step == 1)
            {
                throw new System.Runtime.InteropServices.ExternalException("CUDA out of memory. Tried to allocate 20.00 MiB\n  (the rest of libtorch's message)");
            }
        }));

        RunRecordReader record = RunRecordReader.Read(_dir);
        Assert.Equal(8, record.Steps.Count);
        Assert.Equal([0, 1], record.Steps.Select(s => s.Step).Distinct());
        Assert.NotNull(record.End);
        Assert.False(record.End.Cancelled);
        Assert.Equal(2, record.End.StepsCompleted);
        Assert.Equal(4, record.End.StepsPlanned);
        Assert.Equal("step 1: ExternalException: CUDA out of memory. Tried to allocate 20.00 MiB", record.End.Error);

        var summary = Gputel.Core.Reports.RunAnalysis.Summarize(record);
        Assert.Equal(Gputel.Core.Reports.RunStatus.Failed, summary.Status);
        Assert.Contains("CUDA out of memory", summary.StatusDetail, StringComparison.Ordinal);
        Assert.Contains(summary.StatusDetail, summary.Warnings);
    }

    [Fact]
    public void Freeze_gives_gradients_only_for_the_unfrozen_layers()
    {
        var snapshots = FineTuneRun.Run(Options(FineTuneMethod.Freeze));
        Assert.Equal(Shape.ParameterCount().PerLayer * 4, At(snapshots, 1, "backward")[MemoryCategory.Gradients]);
        Assert.Equal(0, At(snapshots, 1, "zero_grad")[MemoryCategory.Gradients]);
    }

    [Theory]
    [InlineData(FineTuneMethod.Full)]
    [InlineData(FineTuneMethod.Lora)]
    public void Categories_add_up_to_the_allocator_with_little_unattributed(FineTuneMethod method)
    {
        // 512 tokens: a peak of 170 MB (LoRA) to 235 MB (full), so the few MB (up to 5.5 seen on a loaded machine) that
        // the process takes and gives back outside any tensor now and then stay under the 5% bound.
        var snapshots = FineTuneRun.Run(Options(method) with { Shape = Medium, Steps = 4, CutoffLength = 512 });
        long peak = snapshots.Max(s => s.PeakBytes);
        foreach (MemorySnapshot s in snapshots)
        {
            Assert.Equal(s.AllocatorBytes, s.Bytes.Sum() - s[MemoryCategory.Temporary]);
            if (s.Step > 0)
            {
                Assert.True(Math.Abs(s[MemoryCategory.Unattributed]) < peak / 20, $"{s.Phase} step {s.Step}: unattributed {s[MemoryCategory.Unattributed]} of peak {peak}; {string.Join(", ", MemoryCategories.All.Select(c => $"{c.ToName()}={s[c]}"))}");
            }
        }

        Assert.True(At(snapshots, 2, "forward")[MemoryCategory.Activations] > 0);

        // Unattributed is what the allocator holds beyond the other categories, and the first two
        // steps' leftover settles into runtime: a category missed for the whole run would hide there,
        // not show here. So the model state is pinned to the shape's own figures too (fp32, AdamW:
        // a gradient and two moments per trainable parameter).
        long trainable = method == FineTuneMethod.Full ? Medium.ParameterCount().Total : Medium.LoraParameterCount(Options(method).Lora);
        MemorySnapshot afterStep = At(snapshots, 2, "optimizer_step");
        Assert.Equal((trainable * 4, 2 * 4 * trainable), (afterStep[MemoryCategory.Gradients], afterStep[MemoryCategory.OptimizerState]));

        // At each phase's peak the categories add up to it. Backward's stand on what it began with,
        // the end of forward: the activations alive, none of the gradients it makes (zero_grad set
        // them to None); zero_grad's on the gradients it began with and frees.
        for (int i = 1; i < snapshots.Count; i++)
        {
            long[] atPeak = snapshots[i].BytesAtPeak(snapshots[i - 1]);
            Assert.Equal(snapshots[i].PeakBytes, atPeak.Sum());
        }

        MemorySnapshot forward = At(snapshots, 2, "forward"), backward = At(snapshots, 2, "backward");
        long[] backwardPeak = backward.BytesAtPeak(forward);
        Assert.Equal((forward[MemoryCategory.Activations], 0L), (backwardPeak[(int)MemoryCategory.Activations], backwardPeak[(int)MemoryCategory.Gradients]));
        Assert.Equal(backward.PeakBytes - forward.AllocatorBytes, backwardPeak[(int)MemoryCategory.Temporary]);
        Assert.Equal(0, backward[MemoryCategory.Activations]);
        MemorySnapshot optimizerStep = At(snapshots, 2, "optimizer_step");
        Assert.Equal(optimizerStep[MemoryCategory.Gradients], At(snapshots, 2, "zero_grad").BytesAtPeak(optimizerStep)[(int)MemoryCategory.Gradients]);
        Assert.True(optimizerStep[MemoryCategory.Gradients] > 0);
    }

    [Fact]
    public void Gradient_checkpointing_cuts_activations_by_the_expected_factor()
    {
        // Medium, so that the process's own movements (up to 2.5 MB a phase) stay small beside
        // what is measured: a layer's input is 1.5 MiB here, a layer's full set of saved tensors
        // about ten times that.
        const int batch = 4, tokens = 256;
        FineTuneOptions options = new(Medium, _dir) { Method = FineTuneMethod.Full, Steps = 3, BatchSize = batch, CutoffLength = tokens };
        var plain = FineTuneRun.Run(options);
        var ckpt = FineTuneRun.Run(options with { GradientCheckpointing = true, OutputDirectory = _dir + "-ckpt" });
        Directory.Delete(_dir + "-ckpt", recursive: true);

        // The expected figures, each derived from the shape: without checkpointing, every tensor
        // each layer saves for backward (the estimator's per-layer terms); with it, each layer's
        // input [batch, seq, hidden] in fp32 and the head's tensors, which checkpointing leaves alone.
        MemoryEstimate Expected(bool checkpointing) => MemoryEstimator.Estimate(new EstimateRequest
        {
            Shape = Medium,
            Method = FineTuneMethod.Full,
            Dtype = "fp32",
            BatchSize = batch,
            CutoffLength = tokens,
            GradientCheckpointing = checkpointing,
            Device = ComputeDevice.Cpu,
        });
        long expectedPlain = Expected(false).ForwardActivations, expectedCkpt = Expected(true).ForwardActivations;
        long layerInput = (long)batch * tokens * Medium.HiddenSize * 4;
        long bound = layerInput * 3 / 2;

        // The least of the steps after the first (see the test below for why the least).
        long Measured(IReadOnlyList<MemorySnapshot> s) => Enumerable.Range(1, 2).Min(step => At(s, step, "forward")[MemoryCategory.Activations]);
        long measuredPlain = Measured(plain), measuredCkpt = Measured(ckpt);
        string figures = $"measured {measuredPlain} / {measuredCkpt}, expected {expectedPlain} / {expectedCkpt}, layer input {layerInput}";

        // The shape makes the two ranges far apart (a factor of about 9), so each figure landing in
        // its own is the expected cut, within what the bounds allow.
        Assert.True(expectedPlain - bound > 3 * (expectedCkpt + bound), $"the shape should make checkpointing matter: {figures}");
        Assert.True(Math.Abs(measuredPlain - expectedPlain) < bound, figures);
        Assert.True(measuredCkpt >= Medium.Layers * layerInput && measuredCkpt < expectedCkpt + bound, figures);
    }

    [Theory]
    [InlineData(FineTuneMethod.Lora)]
    [InlineData(FineTuneMethod.Freeze)]
    public void Checkpointed_layers_keep_their_inputs_only_until_their_own_backward(FineTuneMethod method)
    {
        const int batch = 8, tokens = 256;
        var snapshots = FineTuneRun.Run(Options(method) with { Shape = Medium, Steps = 4, BatchSize = batch, CutoffLength = tokens, GradientCheckpointing = true });
        // One layer's input is 3 MiB; the bounds below allow one and a half (the process's own
        // memory moves by up to 2.5 MB in a phase on a busy machine), well under what keeping the
        // three frozen layers' or four LoRA layers' inputs adds (9-12 MiB).
        long layerInput = (long)batch * tokens * Medium.HiddenSize * 4;
        long bound = layerInput * 3 / 2;

        // Forward keeps the input of each layer that records a graph (all four under LoRA, the one
        // trainable layer under freeze: a frozen layer over a frozen prefix has nothing to recompute)
        // and the head's tensors, as the estimator counts them.
        var estimate = MemoryEstimator.Estimate(new EstimateRequest
        {
            Shape = Medium,
            Method = method,
            TrainableLayers = 1,
            Lora = Options(method).Lora,
            Dtype = "fp32",
            BatchSize = batch,
            CutoffLength = tokens,
            GradientCheckpointing = true,
            Device = ComputeDevice.Cpu,
        });
        // One-sided where it matters: memory released outside any tensor mid-run (negative
        // unattributed; the JIT's slab cache was one such, now off in test processes: JitSlabCache)
        // can only move these figures down; keeping inputs too long moves them up. The least of the steps after
        // the first: kept inputs raise every step, while the math library's one-time buffers, which
        // a loaded machine has been seen to set up again in a later step's forward pass (4.6 MiB in
        // step 2), raise one.
        long activations = Enumerable.Range(1, 3).Min(step => At(snapshots, step, "forward")[MemoryCategory.Activations]);
        int recording = method == FineTuneMethod.Lora ? Medium.Layers : 1;
        Assert.True(activations - estimate.ForwardActivations < bound, $"activations {activations}, estimated {estimate.ForwardActivations}, one layer input {layerInput}");
        Assert.True(activations >= recording * layerInput, $"activations {activations}, {recording} layer inputs of {layerInput}");

        // After backward nothing of the graph is left: each layer's input went with its backward,
        // not with the step's dispose scope.
        long leftAfterBackward = Enumerable.Range(1, 3).Min(step => At(snapshots, step, "backward")[MemoryCategory.Unattributed]);
        Assert.True(leftAfterBackward < bound, $"unattributed after backward {leftAfterBackward}, one layer input {layerInput}");
    }

    [Fact]
    public void Loss_falls_on_a_small_dataset_and_every_phase_is_recorded()
    {
        Directory.CreateDirectory(_dir + "-data");
        string data = Path.Combine(_dir + "-data", "train.jsonl");
        File.WriteAllLines(data, [
            "{\"instruction\":\"Say hi\",\"output\":\"hi there\"}",
            "{\"instruction\":\"Count\",\"input\":\"1 2\",\"output\":\"3 4 5\"}",
        ]);
        var losses = new List<double>();
        FineTuneOptions options = Options(FineTuneMethod.Full) with { DataFile = data, Steps = 30, LearningRate = 3e-3, CutoffLength = 64 };

        FineTuneRun.Run(options, report => losses.Add(report.Loss));

        Assert.True(losses[^1] < losses[0] / 2, $"loss {losses[0]:0.000} -> {losses[^1]:0.000}");
        RunRecordReader record = RunRecordReader.Read(_dir);
        Assert.Empty(record.Warnings);
        Assert.Equal("full", record.Info!.Method);
        Assert.Equal(30 * 4, record.Steps.Count);
        Assert.Equal(losses[^1], record.Steps[^1].Loss!.Value, 6);
        Directory.Delete(_dir + "-data", recursive: true);
    }

    [Fact]
    public void Exact_cpu_peaks_asked_in_a_process_set_up_for_sampled_ones_are_refused_before_anything_is_written()
    {
        // This test process loaded libtorch with the default set-up: sampled peaks.
        Gputel.Profiler.TorchRuntime.EnsureLoaded();
        Assert.False(CpuAllocator.ExactPeaks);

        var e = Assert.Throws<NotSupportedException>(() => FineTuneRun.Run(Options(FineTuneMethod.Lora) with { ExactCpuPeaks = true }));
        Assert.Contains("sampled peaks first", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir));

        // The default run says how its peaks were measured.
        FineTuneRun.Run(Options(FineTuneMethod.Lora) with { Steps = 1 });
        Assert.Equal("sampled", RunRecordReader.Read(_dir).Info!.Settings["cpu_peaks"]);
    }

    public static TheoryData<string, string> BadSettings => new()
    {
        { "lora targets none", "invalid lora-targets '': name at least one of q_proj" },
        { "lora targets unknown", "invalid lora-targets 'q_proj,attn': 'attn' is not one of" },
        { "lora dropout 1.5", "invalid lora-dropout '1.5': must be at least 0 and below 1" },
        { "lora dropout -0.1", "invalid lora-dropout '-0.1'" },
        { "cutoff 1", "invalid cutoff-len '1': must be at least 2" },
        { "cutoff 1 with data", "invalid cutoff-len '1'" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public void Settings_that_cannot_make_a_run_are_refused_before_anything_is_written(string what, string message)
    {
        string data = Path.Combine(Path.GetTempPath(), "gputel-ft-data-" + Guid.NewGuid().ToString("N") + ".jsonl");
        File.WriteAllText(data, "{\"instruction\":\"Say hi\",\"output\":\"hi there\"}\n");
        FineTuneOptions options = Options(FineTuneMethod.Lora) with { Steps = 1 };
        options = what switch
        {
            "lora targets none" => options with { Lora = new LoraSettings(8, 16, 0, []) },
            "lora targets unknown" => options with { Lora = new LoraSettings(8, 16, 0, ["q_proj", "attn"]) },
            "lora dropout 1.5" => options with { Lora = new LoraSettings(8, 16, 1.5) },
            "lora dropout -0.1" => options with { Lora = new LoraSettings(8, 16, -0.1) },
            "cutoff 1" => options with { CutoffLength = 1 },
            _ => options with { CutoffLength = 1, DataFile = data },
        };

        var e = Assert.Throws<ArgumentException>(() => FineTuneRun.Run(options));

        File.Delete(data);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir), $"{what}: the run directory was created");
    }

    [Fact]
    public void A_bf16_checkpoint_trains_in_fp32_and_the_record_says_it_was_converted()
    {
        using var checkpoint = new Checkpoints.TempDirectory();
        using (NewDisposeScope())
        {
            Checkpoints.TinyCheckpoint.Write(checkpoint.Path, ScalarType.BFloat16);
        }

        FineTuneRun.Run(Options(FineTuneMethod.Lora) with { CheckpointDirectory = checkpoint.Path, Dtype = ScalarType.Float32, Steps = 1 });

        RunInfo info = RunRecordReader.Read(_dir).Info!;
        Assert.Equal("fp32", info.Dtype);
        Assert.Equal("bf16", info.Settings["checkpoint_converted_from"]);
    }

    [Fact]
    public void A_checkpoint_of_the_runs_own_dtype_records_no_conversion_and_its_full_path()
    {
        using var checkpoint = new Checkpoints.TempDirectory();
        using (NewDisposeScope())
        {
            Checkpoints.TinyCheckpoint.Write(checkpoint.Path, ScalarType.Float32);
        }

        // As typed on a command line: relative to the working directory, which a later report need not share.
        string relative = Path.GetRelativePath(Environment.CurrentDirectory, checkpoint.Path);
        Assert.False(Path.IsPathRooted(relative));
        FineTuneRun.Run(Options(FineTuneMethod.Lora) with { CheckpointDirectory = relative, Steps = 1 });

        RunInfo info = RunRecordReader.Read(_dir).Info!;
        Assert.Equal(checkpoint.Path, info.Model);
        Assert.False(info.Settings.ContainsKey("checkpoint_converted_from"));
    }

    [Fact]
    public void A_checkpoint_tokenizer_the_reader_cannot_use_does_not_stop_a_synthetic_data_run()
    {
        using var checkpoint = new Checkpoints.TempDirectory();
        using (NewDisposeScope())
        {
            Checkpoints.TinyCheckpoint.Write(checkpoint.Path, ScalarType.Float32);
        }

        // SentencePiece-style, as Llama-2 and Mistral ship: synthetic batches never tokenize.
        File.WriteAllText(checkpoint.File("tokenizer.json"), """{"model": {"type": "Unigram", "vocab": []}}""");

        FineTuneRun.Run(Options(FineTuneMethod.Lora) with { CheckpointDirectory = checkpoint.Path, Steps = 1 });

        Assert.Equal(4, RunRecordReader.Read(_dir).Steps.Count);

        // A dataset does need it: refused, by name, before the run record exists.
        string data = checkpoint.File("train.jsonl");
        File.WriteAllText(data, "{\"instruction\":\"Say hi\",\"output\":\"hi there\"}\n");
        string withData = _dir + "-data";
        var e = Assert.Throws<NotSupportedException>(() => FineTuneRun.Run(Options(FineTuneMethod.Lora) with
        {
            CheckpointDirectory = checkpoint.Path,
            DataFile = data,
            Steps = 1,
            OutputDirectory = withData,
        }));
        Assert.Contains("Unigram", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(withData));
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
