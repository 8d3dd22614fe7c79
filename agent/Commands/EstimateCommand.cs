using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Gputel.Core.Data;
using Gputel.Core.Estimation;
using Gputel.Core.Memory;
using Gputel.Core.Model;
using Gputel.Core.Training;
#if FINETUNE
using Gputel.Profiler.Estimation;
#endif
using Spectre.Console;

namespace Gputel.Agent.Commands;

/// <summary><c>gputel estimate</c>: memory by category for a fine-tuning configuration, before running it.</summary>
internal static class EstimateCommand
{
    private const double GiB = 1024.0 * 1024 * 1024;

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = $"Built-in shape ({string.Join(", ", ModelShape.BuiltInNames)}) or a Hugging Face config.json or checkpoint directory.", DefaultValueFactory = _ => "qwen2-1.5b" };
        var method = new Option<string>("--method") { Description = "full, freeze or lora.", DefaultValueFactory = _ => "lora" };
        var trainableLayers = new Option<int>("--trainable-layers") { Description = "For freeze: how many last layers train.", DefaultValueFactory = _ => 2 };
        var loraRank = new Option<int>("--lora-rank") { Description = "LoRA rank.", DefaultValueFactory = _ => 8 };
        var loraTargets = new Option<string>("--lora-targets") { Description = "Comma-separated projections (default all seven)." };
        var loraDropout = new Option<double>("--lora-dropout") { Description = "LoRA dropout, at least 0 and below 1: each adapter then keeps its own dropped copy of its input.", DefaultValueFactory = _ => 0 };
        var dtype = new Option<string>("--dtype") { Description = "bf16-mixed, fp16-mixed, bf16, fp16 or fp32. bf16/fp16/fp32 keep weights, gradients and optimizer state in that dtype, as the reference workload trains (no fp32 master copy). bf16-mixed/fp16-mixed are the mixed precision of Hugging Face Trainer and LLaMA-Factory (bf16: true): trainable parameters, gradients and AdamW moments in fp32, frozen weights and activations in 16-bit; with --zero-stage, DeepSpeed's own layout.", DefaultValueFactory = _ => "bf16" };
        var quantization = new Option<string>("--quantization") { Description = "none, 4bit or 8bit: QLoRA's bitsandbytes weights (NF4 with double quantization, or LLM.int8), with --method lora. Default: what the model's config.json quantization_config says, else none." };
        var doubleQuant = new Option<bool>("--no-double-quant") { Description = "With 4bit: keep the absmax constants in fp32 (bnb_4bit_use_double_quant false)." };
        var offload = new Option<string>("--offload") { Description = "none, optimizer or params: what DeepSpeed ZeRO moves to CPU memory (optimizer: ZeRO 1-3; params: ZeRO-3). Needs a -mixed dtype.", DefaultValueFactory = _ => "none" };
        var stage = new Option<string>("--stage") { Description = "sft, dpo, kto, rm or ppo (LLaMA-Factory's stages). dpo: chosen and rejected sequences together and a frozen reference model (for LoRA the base with adapters disabled, no copy); kto: a reference model and a KL batch without gradients; rm: pairs, a value head, no vocabulary loss; ppo: a value head, a reference and a reward model (LoRA: adapters on the same base) and generation with a KV cache.", DefaultValueFactory = _ => "sft" };
        var optimizer = new Option<string>("--optimizer") { Description = "adamw or sgd.", DefaultValueFactory = _ => "adamw" };
        var batchSize = new Option<int>("--batch-size") { Description = "Sequences per micro-batch.", DefaultValueFactory = _ => 1 };
        var cutoff = new Option<int>("--cutoff-len") { Description = "Tokens per sequence.", DefaultValueFactory = _ => 1024 };
        var accumulation = new Option<int>("--gradient-accumulation") { Description = "Micro-batches per step.", DefaultValueFactory = _ => 1 };
        var checkpointing = new Option<bool>("--gradient-checkpointing") { Description = "Recompute each layer in backward." };
        var gpus = new Option<int>("--gpus") { Description = "Data-parallel GPUs sharing model state under ZeRO.", DefaultValueFactory = _ => 1 };
        var zero = new Option<int>("--zero-stage") { Description = "DeepSpeed ZeRO stage 0-3.", DefaultValueFactory = _ => 0 };
        var device = new Option<string>("--device") { Description = "cuda or cpu.", DefaultValueFactory = _ => "cuda" };
        var attention = new Option<string>("--attention") { Description = "sdpa (fused) or eager (materialised scores).", DefaultValueFactory = _ => "sdpa" };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var noProbe = new Option<bool>("--no-probe") { Description = "With --device cpu: use the typical runtime figure instead of measuring it with a one-layer run of the shape (a few seconds)." };
        var data = DataLengths.CreateOption();
        var table = new Option<string>("--table") { Description = "Write the Markdown table of common configurations (1.5B, 7B, 32B shapes x full/freeze/LoRA x cutoff 1024/2048 x batch 1/2) to this file and exit." };

        var command = new Command("estimate", "Predict GPU (or CPU) memory by category for a fine-tuning configuration, with the formula behind each figure and the model-state-only figure common tables give.")
        {
            model, method, trainableLayers, loraRank, loraTargets, loraDropout, dtype, quantization, doubleQuant, offload, stage, optimizer, batchSize, cutoff, accumulation, checkpointing, gpus, zero, device, attention, json, noProbe, table, data,
        };

        command.SetAction(parse =>
        {
            try
            {
                if (parse.GetValue(table) is { } tablePath)
                {
                    string markdown = CommonTable();
                    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(tablePath))!);
                    Core.Records.RunRecordWriter.WriteAtomically(tablePath, Encoding.UTF8.GetBytes(markdown));
                    Console.WriteLine($"wrote {tablePath}");
                    return 0;
                }

                string name = parse.GetValue(model)!;
                int rank = parse.GetValue(loraRank);
                double dropout = parse.GetValue(loraDropout);
                LoraSettings lora = parse.GetValue(loraTargets) is { } targets
                    ? new LoraSettings(rank, 2.0 * rank, dropout, targets.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    : new LoraSettings(rank, 2.0 * rank, dropout);
                // Whatever the method, and named as the options are, as finetune checks them.
                TrainingSettings.ValidateShared(lora, parse.GetValue(accumulation));

                ModelShape shape = ModelShape.Resolve(name);
                (WeightQuantization quantized, bool doubleQuantized, string? quantizationNote) = Quantization(name, parse.GetValue(quantization), !parse.GetValue(doubleQuant));
                var request = new EstimateRequest
                {
                    Shape = shape,
                    Quantization = quantized,
                    DoubleQuantization = doubleQuantized,
                    Offload = TrainingVariantNames.ParseOffload(parse.GetValue(offload)!),
                    Stage = TrainingVariantNames.ParseStage(parse.GetValue(stage)!),
                    ModelName = name,
                    Method = Enum.TryParse(parse.GetValue(method), true, out FineTuneMethod m) && Enum.IsDefined(m) ? m : throw new ArgumentException($"invalid method '{parse.GetValue(method)}': expected full, freeze or lora"),
                    TrainableLayers = parse.GetValue(trainableLayers),
                    Lora = lora,
                    Dtype = parse.GetValue(dtype)!,
                    Optimizer = parse.GetValue(optimizer) switch { "adamw" => OptimizerKind.AdamW, "sgd" => OptimizerKind.Sgd, var o => throw new ArgumentException($"invalid optimizer '{o}': expected adamw or sgd") },
                    BatchSize = parse.GetValue(batchSize),
                    CutoffLength = parse.GetValue(cutoff),
                    GradientAccumulation = parse.GetValue(accumulation),
                    GradientCheckpointing = parse.GetValue(checkpointing),
                    Gpus = parse.GetValue(gpus),
                    ZeroStage = parse.GetValue(zero),
                    // Any device of a kind: the estimate does not depend on which one.
                    Device = ComputeDevice.TryParse(parse.GetValue(device), out ComputeDevice parsed) && parsed.Ordinal is null
                        ? parsed
                        : throw new ArgumentException($"invalid device '{parse.GetValue(device)}': expected cuda or cpu"),
                    Attention = parse.GetValue(attention)!,
                };
                // Validate before spending seconds on the probe (or on the data).
                MemoryEstimate estimate = MemoryEstimator.Estimate(request);
                if (quantizationNote is not null)
                {
                    Console.Error.WriteLine($"gputel estimate: {quantizationNote}");
                }
                int cutoffLength = request.CutoffLength;
                string? dataPath = parse.GetValue(data);
                SequenceLengths? lengths = dataPath is null ? null : DataLengths.Measure("estimate", dataPath, name);
                if (lengths is not null)
                {
                    // The table is the longest batch's: the one that must fit.
                    request = request with { CutoffLength = DataLengths.LongestBatch(lengths, cutoffLength) };
                    estimate = MemoryEstimator.Estimate(request);
                }

                if (request.Device.IsCpu && !parse.GetValue(noProbe))
                {
#if FINETUNE
                    Console.Error.WriteLine("gputel estimate: measuring libtorch's CPU runtime with a one-layer run of this shape (--no-probe skips it)...");
                    if (CpuRuntimeProbe.TryMeasure(request, out string? reason) is { } measured)
                    {
                        estimate = MemoryEstimator.Estimate(request with { MeasuredRuntime = measured });
                    }
                    else
                    {
                        Console.Error.WriteLine($"gputel estimate: runtime not measured ({reason}); using the typical figure");
                    }
#else
                    // The agent-only build carries no libtorch to run the probe with.
                    Console.Error.WriteLine("gputel estimate: runtime not measured (this build has no libtorch: the agent-only build); using the typical figure");
#endif
                }

                MemoryEstimate? typical = lengths is null ? null
                    : MemoryEstimator.Estimate(estimate.Request with { CutoffLength = DataLengths.TypicalBatch(lengths, request.BatchSize, cutoffLength) });
                if (parse.GetValue(json))
                {
                    Console.WriteLine(ToJson(estimate, w => DataLengths.WriteJson(w, cutoffLength, lengths, dataPath, estimate, typical)));
                }
                else
                {
                    Print(estimate);
                    if (lengths is not null)
                    {
                        DataLengths.Print(lengths, cutoffLength, estimate, typical!);
                    }
                    else
                    {
                        AnsiConsole.MarkupLine(Markup.Escape($"assumes {DataLengths.Assumption(cutoffLength)}"));
                    }
                }

                return 0;
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"gputel estimate: {Program.Describe(e)}");
                return Program.UsageError;
            }
        });
        return command;
    }

    /// <summary>
    /// The quantization to estimate: the option when given, else the model's quantization_config;
    /// the two must agree. The note says where it came from when the file decided it.
    /// </summary>
    internal static (WeightQuantization Quantization, bool DoubleQuantization, string? Note) Quantization(string model, string? option, bool doubleQuantization)
    {
        WeightQuantization? asked = option is null ? null : TrainingVariantNames.ParseQuantization(option);
        string? configPath = ModelShape.ConfigPath(model);
        QuantizationConfig? saved = configPath is null ? null : QuantizationConfig.Read(configPath);
        if (saved is null)
        {
            return (asked ?? WeightQuantization.None, doubleQuantization, null);
        }

        if (asked is { } a && a != saved.Quantization)
        {
            throw new ArgumentException($"--quantization {a.Name()} contradicts {configPath}'s quantization_config ({saved.Description}): the checkpoint loads quantized as saved");
        }

        return (saved.Quantization, saved.DoubleQuantization, asked is null ? $"quantization from {configPath}: {saved.Description}" : null);
    }

    private static string Gib(long bytes) => (bytes / GiB).ToString("0.00", CultureInfo.InvariantCulture);

    private static void Print(MemoryEstimate e)
    {
        var r = e.Request;
        AnsiConsole.MarkupLine(Markup.Escape($"{r.ModelName}: {r.Method.ToString().ToLowerInvariant()}, {r.Dtype}, {r.Optimizer.ToString().ToLowerInvariant()}, batch {r.BatchSize} x {r.CutoffLength} tokens{(r.GradientAccumulation > 1 ? $", {r.GradientAccumulation} micro-batches per step" : string.Empty)}{(r.GradientCheckpointing ? ", gradient checkpointing" : string.Empty)}, {r.Device}{(r.Gpus > 1 || r.ZeroStage > 0 ? $", {r.Gpus} GPU{(r.Gpus > 1 ? "s" : string.Empty)} ZeRO-{r.ZeroStage}" : string.Empty)}{(r.Offload != ZeroOffload.None ? $", {r.Offload.Name()} offloaded" : string.Empty)}{(r.Quantization != WeightQuantization.None ? $", {r.Quantization.Name()} weights" : string.Empty)}{(r.Stage != TrainingStage.Sft ? $", stage {r.Stage.Name()}" : string.Empty)}; per device, at the peak ({e.PeakPhase})"));
        var table = new Table().Border(TableBorder.Rounded).AddColumn("category").AddColumn(new TableColumn("GiB").RightAligned()).AddColumn("formula");
        foreach (EstimateLine line in e.Lines)
        {
            table.AddRow(Markup.Escape(line.Category.ToName()), Gib(line.Bytes), Markup.Escape(line.Formula));
        }

        table.AddRow("[bold]peak[/]", $"[bold]{Gib(e.PeakBytes)}[/]", Markup.Escape($"in {e.PeakPhase}"));
        table.AddRow("model state only", Gib(e.ModelStateOnlyBytes), Markup.Escape(e.ModelStateOnlyFormula));
        AnsiConsole.Write(table);
        // Both figures per GPU: across several GPUs the table's figure is sharded as the configuration
        // shards model state, not compared whole against one GPU's share.
        string sharded = r.Gpus > 1 && r.ZeroStage >= 1 ? $", its model state sharded as ZeRO-{r.ZeroStage} shards it over {r.Gpus} GPUs" : string.Empty;
        AnsiConsole.MarkupLine(Markup.Escape($"the usual table (model state only) says {Gib(e.ModelStateOnlyBytes)} GiB per GPU{sharded}; this configuration needs {Gib(e.PeakBytes)} GiB per GPU ({(double)e.PeakBytes / Math.Max(1, e.ModelStateOnlyBytes):0.0}x)"));
        if (r.Method == FineTuneMethod.Full && r.Dtype == "bf16")
        {
            // The table's 18 B per parameter is mixed precision; this estimate keeps everything in bf16.
            AnsiConsole.MarkupLine(Markup.Escape("note: that table counts mixed precision (fp32 master weights and AdamW moments, 18 B per parameter); this estimate is pure bf16 training, whose weights, gradients and moments take 8 B per parameter. For a mixed-precision run (Hugging Face Trainer's bf16=True, LLaMA-Factory's default) give --dtype bf16-mixed."));
        }
    }

    private static string ToJson(MemoryEstimate e, Action<Utf8JsonWriter>? more = null)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("model", e.Request.ModelName);
            w.WriteString("method", e.Request.Method.ToString().ToLowerInvariant());
            // What was estimated, so a saved estimate says which configuration it is for.
            EstimateRequest r = e.Request;
            w.WriteStartObject("configuration");
            w.WriteString("dtype", r.Dtype);
            w.WriteString("quantization", r.Quantization.Name());
            w.WriteString("offload", r.Offload.Name());
            w.WriteString("stage", r.Stage.Name());
            w.WriteString("optimizer", r.Optimizer.ToString().ToLowerInvariant());
            w.WriteNumber("batch_size", r.BatchSize);
            w.WriteNumber("cutoff_length", r.CutoffLength);
            w.WriteNumber("gradient_accumulation", r.GradientAccumulation);
            w.WriteBoolean("gradient_checkpointing", r.GradientCheckpointing);
            w.WriteString("attention", r.Attention);
            w.WriteNumber("gpus", r.Gpus);
            w.WriteNumber("zero_stage", r.ZeroStage);
            w.WriteString("device", r.Device.ToString());
            if (r.Method == FineTuneMethod.Freeze)
            {
                w.WriteNumber("trainable_layers", r.TrainableLayers);
            }

            if (r.Method == FineTuneMethod.Lora)
            {
                w.WriteNumber("lora_rank", r.Lora.Rank);
                w.WriteNumber("lora_dropout", r.Lora.Dropout);
                w.WriteStartArray("lora_targets");
                foreach (string target in r.Lora.TargetModules)
                {
                    w.WriteStringValue(target);
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
            w.WriteString("peak_phase", e.PeakPhase.Name);
            w.WriteNumber("peak_bytes", e.PeakBytes);
            w.WriteNumber("model_state_only_bytes", e.ModelStateOnlyBytes);
            w.WriteString("model_state_only_formula", e.ModelStateOnlyFormula);
            w.WriteStartArray("categories");
            foreach (EstimateLine line in e.Lines)
            {
                w.WriteStartObject();
                w.WriteString("category", line.Category.ToName());
                w.WriteNumber("bytes", line.Bytes);
                w.WriteString("formula", line.Formula);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            more?.Invoke(w);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>The configurations people ask about, one row each, with the model-state-only figure beside.</summary>
    internal static string CommonTable()
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Memory estimates for common fine-tuning configurations");
        sb.AppendLine();
        sb.AppendLine("Generated by `gputel estimate --table docs/ESTIMATES.md`; do not edit by hand. One GPU, bf16 weights,");
        sb.AppendLine("AdamW (state in bf16 as the reference workload keeps it), SDPA attention, no gradient checkpointing");
        sb.AppendLine("or accumulation, LoRA rank 8 on all seven projections, freeze trains the last 2 layers. GiB per GPU");
        sb.AppendLine("at the peak. \"Model state only\" is what the common tables give (18 B/parameter for full,");
        sb.AppendLine("2 B/parameter for freeze and LoRA); `gputel estimate` prints the formula behind every figure.");
        sb.AppendLine();
        sb.AppendLine("| model | method | cutoff | batch | weights | gradients | optimizer | activations | temporary | runtime + cache | **peak** | peak phase | model state only |");
        sb.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |");
        foreach (string name in new[] { "qwen2-1.5b", "qwen2-7b", "qwen2.5-32b" })
        {
            foreach (FineTuneMethod method in new[] { FineTuneMethod.Full, FineTuneMethod.Freeze, FineTuneMethod.Lora })
            {
                foreach (int cutoff in new[] { 1024, 2048 })
                {
                    foreach (int batch in new[] { 1, 2 })
                    {
                        MemoryEstimate e = MemoryEstimator.Estimate(new EstimateRequest
                        {
                            Shape = ModelShape.Named(name),
                            ModelName = name,
                            Method = method,
                            TrainableLayers = 2,
                            Lora = new LoraSettings(8, 16),
                            Dtype = "bf16",
                            BatchSize = batch,
                            CutoffLength = cutoff,
                        });
                        sb.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {method.ToString().ToLowerInvariant()} | {cutoff} | {batch} | {Gib(e[MemoryCategory.Weights])} | {Gib(e[MemoryCategory.Gradients])} | {Gib(e[MemoryCategory.OptimizerState])} | {Gib(e[MemoryCategory.Activations])} | {Gib(e[MemoryCategory.Temporary])} | {Gib(e[MemoryCategory.Runtime] + e[MemoryCategory.AllocatorCache])} | **{Gib(e.PeakBytes)}** | {e.PeakPhase} | {Gib(e.ModelStateOnlyBytes)} |");
                    }
                }
            }
        }

        return sb.ToString();
    }
}
