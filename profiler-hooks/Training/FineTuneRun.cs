using System.Diagnostics;
using Gputel.Core.Memory;
using Gputel.Core.Records;
using Gputel.Core.Training;
using Gputel.Core.Data;
using Gputel.Profiler.Data;
using Gputel.Profiler.Memory;
using Gputel.Profiler.Model;
using Gputel.Profiler.Records;
using Gputel.Profiler.Telemetry;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gputel.Profiler.Training;

/// <summary>
/// The reference fine-tuning workload with the profiler attached: builds (or loads) the model,
/// applies the method, trains for the given steps and records every phase of every step, by memory
/// category, to the run record and the live gauges. On the CPU the allocator truth is glibc's; on a
/// CUDA device (<see cref="FineTuneOptions.Device"/>) the device's default memory pool's, with NVML
/// for the process as a whole.
/// </summary>
public static class FineTuneRun
{
    /// <summary>Runs <paramref name="options"/>; <paramref name="progress"/> hears of each completed step.</summary>
    /// <exception cref="ArgumentException">A setting is out of range (see <see cref="FineTuneOptions.Validate"/>); nothing is written.</exception>
    public static IReadOnlyList<MemorySnapshot> Run(FineTuneOptions options, Action<StepReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        // Before the record exists: a device that cannot run leaves nothing behind.
        using TrainingDevice device = TrainingDevice.Open(options.Device, options.ExactCpuPeaks);
        if (options.ExactCpuPeaks && CpuAllocator.ExactPeaksRefused is { } refused)
        {
            throw new NotSupportedException("exact CPU peaks are not available: " + refused);
        }

        // The dataset and its tokenizer before the model: a missing tokenizer is refused before a
        // checkpoint of gigabytes is read, and what they hold is in the baseline, not the run.
        var batches = new BatchSource(options, (int)options.Shape.VocabSize, device.Torch);

        // Whatever an earlier run in this process left to finalizers would be freed during this
        // run and show as memory below the baseline: release it before the baseline is taken.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        long baseline = device.InUse();
        // On the CPU, libtorch's own first-use memory is malloc's like a tensor's and is primed and
        // measured here; on a GPU the process's figure beyond the pool (NVML) gives the runtime.
        long runtime = device.IsCuda ? 0 : LibtorchRuntime.Prime();
        // libtorch's manual_seed seeds every CUDA device's generator too.
        manual_seed(options.Seed);

        using var model = new DecoderModel(options.Shape, options.Dtype, device.Torch);
        WeightLoad? loaded = options.CheckpointDirectory is { } checkpoint ? model.LoadCheckpoint(checkpoint) : null;
        ApplyMethod(model, options);
        model.GradientCheckpointing = options.GradientCheckpointing;
        List<Parameter> trainable = model.TrainableParameters().ToList();
        MemoryAccountant? probeTarget = null;
        var group = new PeakProbeParameters(trainable, () => probeTarget?.SamplePeak(), () => probeTarget?.BeginTransient());
        OptimizerHelper optimizer = options.Optimizer == OptimizerKind.AdamW
            ? optim.AdamW(group, lr: options.LearningRate)
            : optim.SGD(group, options.LearningRate, momentum: 0.9);

        using var accountant = new MemoryAccountant(model, () => OptimizerStateTensors.Of(optimizer), baseline, runtime, device.Truth);
        probeTarget = accountant;
        // The loss's peak is read when it happens; the sampler looks for the forward pass's others.
        model.LossComputed = accountant.SamplePeak;
        using var telemetry = new TrainingTelemetry(options.RunId);
        using var record = new RunRecordWriter(options.OutputDirectory, Describe(options, trainable, baseline, loaded, device, batches.TokenizerName));
        // Disposed before the record (declared after it): its last sample lands before the file closes.
        using var sampler = new HostSampler(record, device.IsCuda ? device.SampleDevice : null);

        int written = 0, completed = 0;
        // When each phase ended: lines are written after the step, and samples are placed by time.
        var phaseEnds = new List<DateTimeOffset>();
        int step = 0;
        try
        {
            for (; step < options.Steps && !cancellationToken.IsCancellationRequested; step++)
            {
                long started = Stopwatch.GetTimestamp();
                double lossSum = 0;
                long tokens = 0;
                using (NewDisposeScope())
                {
                    for (int micro = 0; micro < options.GradientAccumulation; micro++)
                    {
                        (Tensor ids, Tensor labels) = batches.Next();
                        tokens += ids.numel();
                        accountant.SetInputs(ids, labels);
                        Tensor microLoss;
                        CausalLmOutput output;
                        using (TrainingTelemetry.StartPhase(step, Phase.Forward))
                        using (accountant.Phase(step, Phase.Forward))
                        {
                            output = model.call(ids, labels);
                            microLoss = output.Loss! / options.GradientAccumulation;
                            accountant.SetOutputs(output.Logits, output.Loss!, microLoss);
                            device.Synchronize();
                        }
                        phaseEnds.Add(DateTimeOffset.UtcNow);

                        lossSum += microLoss.to(ScalarType.Float32).item<float>() * options.GradientAccumulation;
                        // Each phase from here starts where the last ended: between them only the loss's
                        // value is read (a float32 copy of one number, a few hundred bytes with its tensor
                        // object in bf16), so their end reads serve as starts.
                        using (TrainingTelemetry.StartPhase(step, Phase.Backward))
                        using (accountant.Phase(step, Phase.Backward, continuesLast: true))
                        {
                            microLoss.backward();
                            LayerCheckpoint.ReleaseReturnedGradients();
                            // Only the loss's value outlives backward, as in a Hugging Face training
                            // step: the logits, and the graph with whatever custom autograd functions
                            // saved, go now rather than when the step's scope ends.
                            accountant.SetOutputs();
                            output.Logits.Dispose();
                            output.Loss!.Dispose();
                            microLoss.Dispose();
                            device.Synchronize();
                        }
                        phaseEnds.Add(DateTimeOffset.UtcNow);
                    }

                    using (TrainingTelemetry.StartPhase(step, Phase.OptimizerStep))
                    using (accountant.Phase(step, Phase.OptimizerStep, continuesLast: true))
                    {
                        group.Armed = true;
                        try
                        {
                            optimizer.step();
                        }
                        finally
                        {
                            group.Armed = false;
                        }

                        device.Synchronize();
                    }
                    phaseEnds.Add(DateTimeOffset.UtcNow);

                    using (TrainingTelemetry.StartPhase(step, Phase.ZeroGrad))
                    using (accountant.Phase(step, Phase.ZeroGrad, continuesLast: true))
                    {
                        model.zero_grad(set_to_none: true);
                        device.Synchronize();
                    }
                    phaseEnds.Add(DateTimeOffset.UtcNow);
                }

                // TorchSharp wraps every scalar operand (lr, betas, eps, scaling factors) in a native
                // object freed only by its finalizer: thousands a step, which would pile up as
                // unattributed memory until the garbage collector happens to run. Release them per step.
                GC.Collect();
                GC.WaitForPendingFinalizers();

                if (step <= 1)
                {
                    // Outside the step's dispose scope: the batch, logits and loss are gone by now.
                    accountant.SetInputs();
                    accountant.SetOutputs();
                    accountant.SettleRuntime();
                }

                double meanLoss = lossSum / options.GradientAccumulation;
                double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                MemorySnapshot peak = accountant.Snapshots[written];
                MemorySnapshot? beforePeak = null, before = null;
                for (; written < accountant.Snapshots.Count; written++)
                {
                    MemorySnapshot s = accountant.Snapshots[written];
                    record.WriteStep(s, s.Phase == Phase.ZeroGrad ? meanLoss : null, phaseEnds[written]);
                    telemetry.Record(s);
                    if (s.PeakBytes > peak.PeakBytes)
                    {
                        (peak, beforePeak) = (s, before);
                    }

                    before = s;
                }

                telemetry.CompleteStep(seconds, meanLoss);
                completed++;
                progress?.Invoke(new StepReport(step, options.Steps, meanLoss, seconds, tokens / seconds, peak, peak.BytesAtPeak(beforePeak)));
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Out of device memory, most often: a run that does not fit is what this tool is for,
            // so its record keeps what was measured up to the failure and says why it ended.
            RecordFailure(record, accountant.Snapshots, phaseEnds, written, step, completed, options.Steps, e);
            throw;
        }

        optimizer.Dispose();
        sampler.Dispose();
        record.Complete(new RunEnd(DateTimeOffset.UtcNow, completed, options.Steps, Cancelled: completed < options.Steps));
        return accountant.Snapshots;
    }

    /// <summary>
    /// Writes the failing step's phases that ended (the one that failed included: its scope recorded
    /// what it held as it failed) and <c>end.json</c> with the error. Where the record itself is what
    /// failed, nothing more can be written and the lines already there stand.
    /// </summary>
    private static void RecordFailure(RunRecordWriter record, MemorySnapshotLog snapshots, List<DateTimeOffset> phaseEnds, int written, int step, int completed, int planned, Exception e)
    {
        try
        {
            DateTimeOffset now = DateTimeOffset.UtcNow;
            string where = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"step {step}");
            for (; written < snapshots.Count; written++)
            {
                MemorySnapshot s = snapshots[written];
                record.WriteStep(s, null, written < phaseEnds.Count ? phaseEnds[written] : now);
                where = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"step {s.Step}, {s.Phase}");
            }

            string message = e.Message.Split('\n', 2)[0].Trim();
            record.Complete(new RunEnd(now, completed, planned, Cancelled: false, Error: $"{where}: {e.GetType().Name}: {message}"));
        }
        catch (Exception recordError) when (recordError is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // The record cannot take more; the caller reports the original failure.
        }
    }

    private static void ApplyMethod(DecoderModel model, FineTuneOptions options)
    {
        switch (options.Method)
        {
            case FineTuneMethod.Full:
                model.TrainAll();
                break;
            case FineTuneMethod.Freeze:
                model.FreezeAllButLastLayers(options.TrainableLayers);
                break;
            case FineTuneMethod.Lora:
                model.ApplyLora(options.Lora);
                break;
        }
    }

    private static RunInfo Describe(FineTuneOptions o, List<Parameter> trainable, long allocatorBaseline, WeightLoad? loaded, TrainingDevice device, string tokenizer) => new(
        o.RunId,
        // By full path, so the report and the estimator find the checkpoint's config.json from anywhere.
        o.CheckpointDirectory is { } checkpoint ? Path.GetFullPath(checkpoint) : o.ModelName,
        o.Method.ToString().ToLowerInvariant(),
        DtypeName(o.Dtype),
        device.Name,
        DateTimeOffset.UtcNow,
        new Dictionary<string, string>(Conversion(loaded))
        {
            ["optimizer"] = o.Optimizer.ToString().ToLowerInvariant(),
            ["learning_rate"] = o.LearningRate.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            ["batch_size"] = o.BatchSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["cutoff_length"] = o.CutoffLength.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["gradient_accumulation"] = o.GradientAccumulation.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["gradient_checkpointing"] = o.GradientCheckpointing ? "true" : "false",
            ["steps"] = o.Steps.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["trainable_layers"] = o.TrainableLayers.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["lora_rank"] = o.Lora.Rank.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["lora_alpha"] = o.Lora.Alpha.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["lora_targets"] = string.Join(',', o.Lora.TargetModules),
            ["lora_dropout"] = o.Lora.Dropout.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            ["trainable_parameters"] = trainable.Sum(p => p.numel()).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["data"] = o.DataFile ?? "synthetic",
            // Where the weights and the token ids came from, so a record never hides that a model
            // trained from random weights or on byte tokens.
            ["weights"] = loaded is null
                ? "fresh (normal(0, 0.02), seed " + o.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture) + ")"
                : "checkpoint (" + loaded.Copied.ToString(System.Globalization.CultureInfo.InvariantCulture) + " tensors)",
            ["tokenizer"] = tokenizer,
            ["seed"] = o.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // What malloc had handed out before the model existed: the phase figures are above it,
            // samples.jsonl's used_bytes are not, so a report can line the two up.
            ["allocator_baseline_bytes"] = allocatorBaseline.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // How phase peaks were measured on the CPU: "exact" (the resident high-water mark, with
            // a fixed mmap threshold) or "sampled" (the highest of the accounting's reads, a lower bound).
            ["cpu_peaks"] = device.IsCuda ? "none (a CUDA run: the memory pool's high-water mark gives each phase's peak)" : CpuAllocator.ExactPeaks ? "exact" : "sampled",
            // "on" where the process started without DOTNET_JitHostMaxSlabCache=0: then the JIT's
            // cached memory, freed a few seconds in, can show as negative unattributed (JitSlabCache).
            [JitSlabCache.Setting] = JitSlabCache.IsOff ? "off" : "on",
        },
        new Dictionary<string, string>(device.Facts)
        {
            // What was loaded (a PyTorch install's, on a GPU host) and what TorchSharp was built for:
            // the GPU host's pre-flight (bench/gpu-host/README.md) is about the difference.
            ["libtorch"] = TorchRuntime.Loaded(),
            ["torchsharp_libtorch"] = TorchRuntime.BuiltFor,
            [".net"] = Environment.Version.ToString(),
        },
        RunProcess.Current());

    // Most Hugging Face checkpoints ship bf16 and the run may be fp32 (or the reverse): the weights
    // trained are then the checkpoint's converted, which the record says.
    private static IEnumerable<KeyValuePair<string, string>> Conversion(WeightLoad? loaded) =>
        loaded is { ConvertedFrom.Count: > 0 }
            ? [new("checkpoint_converted_from", string.Join(',', loaded.ConvertedFrom.Select(DtypeName)))]
            : [];

    private static string DtypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float16 => "fp16",
        ScalarType.Float32 => "fp32",
        ScalarType.Float64 => "fp64",
        _ => dtype.ToString().ToLowerInvariant(),
    };

    /// <summary>Micro-batches from the dataset (cycling) or synthetic ones of the cutoff length.</summary>
    private sealed class BatchSource(FineTuneOptions options, int vocabularySize, Device device)
    {
        private readonly IReadOnlyList<AlpacaExample>? _examples = options.DataFile is null ? null : AlpacaJsonl.Read(options.DataFile);
        // Only a dataset needs one: synthetic batches are ids already, and a checkpoint's tokenizer
        // this reader does not support (SentencePiece-style, as Llama-2's and Mistral's) must not
        // stop a run that never tokenizes.
        private readonly ITextTokenizer? _tokenizer = options.DataFile is null ? null : Tokenizer(options, vocabularySize);
        private int _next;

        /// <summary>What gave the ids, for run.json: the tokenizer file, bytes, or none (synthetic batches).</summary>
        public string TokenizerName => _tokenizer switch
        {
            null => "none (synthetic token ids)",
            HuggingFaceTokenizer hf => hf.Source,
            _ => "bytes",
        };

        public (Tensor Ids, Tensor Labels) Next()
        {
            (Tensor ids, Tensor labels) = OnHost();
            // Made on the host, as a data loader makes them; the copies there go with the step's scope.
            return device.type == TorchSharp.DeviceType.CPU ? (ids, labels) : (ids.to(device), labels.to(device));
        }

        private (Tensor Ids, Tensor Labels) OnHost()
        {
            if (_examples is null || _tokenizer is null)
            {
                return TrainingBatches.Synthetic(options.BatchSize, options.CutoffLength, vocabularySize, options.Seed + _next++);
            }

            var batch = Enumerable.Range(0, options.BatchSize).Select(i => _examples[(_next + i) % _examples.Count]).ToList();
            _next += options.BatchSize;
            return TrainingBatches.FromExamples(batch, _tokenizer, options.CutoffLength, _tokenizer.PadId, _tokenizer.EndId);
        }

        // The model's own vocabulary (refused where it ships none), bytes where asked for or for a
        // built-in shape; either way every id must exist in the model's embedding.
        private static ITextTokenizer Tokenizer(FineTuneOptions options, int vocabularySize)
        {
            ITextTokenizer tokenizer = options.Tokenizer.Open(options.ModelDirectory);
            if (tokenizer.VocabularySize > vocabularySize)
            {
                throw new InvalidDataException(
                    $"the tokenizer has {tokenizer.VocabularySize} ids but the model's vocabulary only {vocabularySize}: use a shape with a larger vocabulary (the byte tokenizer needs 258) or a checkpoint with its tokenizer");
            }

            return tokenizer;
        }
    }
}
