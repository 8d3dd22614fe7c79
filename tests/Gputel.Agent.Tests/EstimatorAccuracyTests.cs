using System.Globalization;
using System.Text.RegularExpressions;
using Gputel.Core.Estimation;
using Gputel.Core.Memory;
using Gputel.Core.Records;
using Gputel.Core.Training;
using Gputel.Profiler.Estimation;
using Gputel.Profiler.Memory;
using Gputel.Profiler.Records;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary>
/// The estimator against measurements: each case runs the reference fine-tune in its own
/// <c>gputel finetune</c> process (as a user would, so libtorch's one-time memory is in it), reads
/// the run record, and compares every category that is more than 5% of the measured peak with the
/// estimate for the same configuration.
/// </summary>
public sealed class EstimatorAccuracyTests : IDisposable
{
    private const double MiB = 1024 * 1024;
    private readonly TempDirectory _dir = new();

    // Three layouts, large enough that a fixed cost of a few MiB (libtorch's and the math
    // libraries' own buffers) is no toy-sized share of the peak: grouped-query attention (12 query
    // heads on 4 key/value heads), the same with a smaller vocabulary for the bf16 run at longer
    // sequences, and plain multi-head attention with a larger vocabulary.
    private const string Gqa = """{"architectures":["Qwen2ForCausalLM"],"vocab_size":4096,"hidden_size":768,"intermediate_size":2048,"num_hidden_layers":4,"num_attention_heads":12,"num_key_value_heads":4,"max_position_embeddings":4096,"rope_theta":10000,"rms_norm_eps":1e-6,"tie_word_embeddings":false}""";
    private const string GqaV2048 = """{"architectures":["Qwen2ForCausalLM"],"vocab_size":2048,"hidden_size":768,"intermediate_size":2048,"num_hidden_layers":4,"num_attention_heads":12,"num_key_value_heads":4,"max_position_embeddings":4096,"rope_theta":10000,"rms_norm_eps":1e-6,"tie_word_embeddings":false}""";
    private const string Mha = """{"architectures":["LlamaForCausalLM"],"vocab_size":8192,"hidden_size":640,"intermediate_size":1792,"num_hidden_layers":6,"num_attention_heads":10,"num_key_value_heads":10,"max_position_embeddings":4096,"rope_theta":10000,"rms_norm_eps":1e-6,"tie_word_embeddings":false}""";

    [Theory]
    [InlineData("gqa", "full", false, "fp32", 2, 256)]
    [InlineData("gqa", "full", true, "fp32", 2, 256)]
    [InlineData("gqa", "freeze", false, "fp32", 2, 256)]
    [InlineData("gqa", "lora", false, "fp32", 2, 512)]
    [InlineData("gqa-v2048", "lora", false, "bf16", 2, 1024)]
    [InlineData("gqa", "lora", true, "fp32", 4, 512)]
    [InlineData("gqa", "freeze", true, "fp32", 2, 256)]
    [InlineData("mha", "lora", true, "fp32", 2, 1024)]
    [InlineData("mha", "full", false, "fp32", 1, 512)]
    [InlineData("mha", "freeze", false, "fp32", 1, 512)]
    [InlineData("mha", "freeze", true, "fp32", 1, 512)]
    [InlineData("mha", "lora", false, "fp32", 1, 512)]
    // Two micro-batches a step: the second's forward and backward run with every gradient alive.
    [InlineData("gqa", "full", false, "fp32", 2, 256, 2)]
    public void Estimate_matches_the_measured_peak_category_by_category(string layout, string method, bool checkpointing, string dtype, int batch, int cutoff, int accumulation = 1)
    {
        string config = _dir.File(layout + ".json", layout switch { "gqa" => Gqa, "gqa-v2048" => GqaV2048, _ => Mha });
        string run = Path.Combine(_dir.Path, "run");
        List<string> args = ["finetune", "--model", config, "--method", method, "--steps", "4", "--dtype", dtype,
            "--batch-size", batch.ToString(CultureInfo.InvariantCulture), "--cutoff-len", cutoff.ToString(CultureInfo.InvariantCulture), "--trainable-layers", "2", "--out", run,
            // The estimate is held to the phase peaks, short-lived tensors included.
            "--exact-cpu-peaks"];
        if (checkpointing)
        {
            args.Add("--gradient-checkpointing");
        }

        if (accumulation > 1)
        {
            args.AddRange(["--gradient-accumulation", accumulation.ToString(CultureInfo.InvariantCulture)]);
        }

        // A generous wall-clock limit: the run takes seconds alone, but shares the machine with the
        // other integration tests.
        (int exit, string output) = AgentProcess.Run(args, seconds: 600);
        Assert.True(exit == 0, output);

        // The runtime as `gputel estimate --device cpu` measures it, in a fresh process of its own.
        List<string> estimateArgs = ["estimate", "--model", config, "--method", method, "--dtype", dtype, "--device", "cpu", "--json",
            "--batch-size", batch.ToString(CultureInfo.InvariantCulture), "--cutoff-len", cutoff.ToString(CultureInfo.InvariantCulture), "--trainable-layers", "2"];
        if (checkpointing)
        {
            estimateArgs.Add("--gradient-checkpointing");
        }

        if (accumulation > 1)
        {
            estimateArgs.AddRange(["--gradient-accumulation", accumulation.ToString(CultureInfo.InvariantCulture)]);
        }

        (int estimateExit, string estimateOutput) = AgentProcess.Run(estimateArgs, seconds: 600);
        Assert.True(estimateExit == 0, estimateOutput);
        Match runtime = Regex.Match(estimateOutput, @"""category"": ""runtime"",\s*""bytes"": (\d+),\s*""formula"": ""measured on this machine");
        Assert.True(runtime.Success, estimateOutput);

        RunRecordReader record = RunRecordReader.Read(run);
        Assert.Equal("exact", record.Info!.Settings["cpu_peaks"]);
        Assert.Equal(accumulation, EstimateRequest.FromRunInfo(record.Info!).GradientAccumulation);
        MemoryEstimate estimate = MemoryEstimator.Estimate(EstimateRequest.FromRunInfo(record.Info!) with
        {
            MeasuredRuntime = new RuntimeMeasurement(long.Parse(runtime.Groups[1].Value, CultureInfo.InvariantCulture), "gputel estimate"),
        });
        (string phase, long peak, long[] measured) = MeasuredPeak(record.Steps);

        var report = string.Join('\n', MemoryCategories.All.Select(c =>
            $"{c.ToName(),-16} measured {measured[(int)c] / MiB,8:0.00}  estimated {estimate[c] / MiB,8:0.00} MiB"));
        string context = $"{layout} {method} checkpointing={checkpointing} {dtype} b={batch} s={cutoff} accumulation={accumulation}: measured peak {peak / MiB:0.00} MiB in {phase}, estimated {estimate.PeakBytes / MiB:0.00} MiB in {estimate.PeakPhase}\n{report}";
        TestContext.Current.TestOutputHelper?.WriteLine(context);

        // Each category where it is whole: activations at the end of forward, gradients at the end
        // of backward, model state and the batch anywhere (the last complete step).
        int last = record.Steps.Max(l => l.Step);
        StepLine forward = record.Steps.Last(l => l.Step == last && l.Phase == Phase.Forward);
        StepLine backward = record.Steps.Last(l => l.Step == last && l.Phase == Phase.Backward);
        Compare("weights", forward.Bytes["weights"], estimate[MemoryCategory.Weights]);
        Compare("optimizer_state", forward.Bytes["optimizer_state"], estimate[MemoryCategory.OptimizerState]);
        Compare("inputs", forward.Bytes["inputs"], estimate[MemoryCategory.Inputs]);
        Compare("activations", forward.Bytes["activations"], estimate.ForwardActivations);
        Compare("gradients", backward.Bytes["gradients"], estimate.BackwardGradients);
        // The step's last forward pass: with accumulation every gradient is alive in it, without none.
        Compare("gradients in forward", forward.Bytes["gradients"], accumulation > 1 ? estimate.BackwardGradients : 0);

        // And the peak: as a whole, and category by category at the peak phase.
        Compare("peak", peak, estimate.PeakBytes);
        foreach (MemoryCategory category in MemoryCategories.All.Where(c => c is not MemoryCategory.Unattributed))
        {
            Compare($"{category.ToName()} at the peak", measured[(int)category], estimate[category]);
        }

        void Compare(string category, long m, long e)
        {
            if (Math.Max(m, e) > peak / 20)
            {
                Assert.True(Math.Abs(e - m) <= m / 10, $"{category}: estimated {e / MiB:0.00} MiB, measured {m / MiB:0.00} MiB\n{context}");
            }
        }

        // What the measurement could not name stays small, so the comparison above covers the peak.
        Assert.True(Math.Abs(measured[(int)MemoryCategory.Unattributed]) <= peak / 20, context);
    }

    // libtorch's CPU runtime (its own set-up plus MKL's or oneDNN's buffers, 11-18 MiB on these
    // shapes, from `gputel estimate --device cpu`'s one-layer run) falls under the same rule, and the
    // shapes keep it under 5% of every peak, as on any real model: on a loaded machine the run's own
    // figure came out up to 10 MiB lower than on a quiet one, and so did the probe's own figure in
    // `gputel estimate`, and no 10% comparison of a 15 MiB category could absorb that. The memory
    // released was the .NET JIT's slab cache (profiler-hooks/Memory/JitSlabCache.cs), which
    // `gputel finetune` and `gputel estimate --device cpu` now turn off by restarting themselves.
    //
    // The gradients of the loss over the vocabulary exist for about a millisecond at the start of
    // backward. The CPU measurement sees such a spike through the kernel's resident high-water mark
    // when it takes fresh pages (not the NLL gradient's, a calloc'd block mostly left untouched), and
    // through the 10 ms sampler only by chance otherwise; the vocabularies and lengths keep it under 5%
    // of the peak, where the comparison stops (bf16 LoRA on a smaller model put it at 6.2%, and the
    // measurement caught 3.5-4.0 of its 4.0 MiB).

    /// <summary>
    /// The breakdown at the highest phase peak after the first step (which carries one-time set-up).
    /// A backward peak sits on the phase's larger end (it starts with every activation alive) plus
    /// what it allocated briefly on top; any other phase's on its end figures plus the temporaries
    /// the profiler measured (an optimizer step's from the moment its walk began). What the peak
    /// holds beyond those is unattributed, so the categories add up to the peak.
    /// </summary>
    private static (string Phase, long Peak, long[] Bytes) MeasuredPeak(IReadOnlyList<StepLine> steps)
    {
        var steady = steps.Where(s => s.Step >= 1).ToList();
        StepLine top = steady.MaxBy(s => s.PeakBytes)!;
        int index = steady.IndexOf(top);
        bool backward = top.Phase == Phase.Backward;
        StepLine state = backward && index > 0 && steady[index - 1].AllocatorBytes > top.AllocatorBytes ? steady[index - 1] : top;
        long[] bytes = MemoryCategories.All.Select(c => state.Bytes.GetValueOrDefault(c.ToName())).ToArray();
        if (backward)
        {
            bytes[(int)MemoryCategory.Temporary] = 0;
            bytes[(int)MemoryCategory.Temporary] = top.PeakBytes - bytes.Sum();
        }
        else
        {
            bytes[(int)MemoryCategory.Unattributed] += top.PeakBytes - bytes.Sum();
        }

        return (top.Phase.Name, top.PeakBytes, bytes);
    }

    public void Dispose() => _dir.Dispose();
}
