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
        var table = new Option<string>("--table") { Description = "Write the Markdown tables of common configurations (LLaMA-Factory's table beside ours for 7B-72B; 1.5B, 7B, 32B by category: full on 8 GPUs with ZeRO-3 and on one, freeze, LoRA, QLoRA, cutoff 1024/2048, batch 1/4) to this file and exit." };

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
        const double GB = 1e9;
        string Gb(long bytes) => (bytes / GB).ToString("0.0", CultureInfo.InvariantCulture);
        var sb = new StringBuilder();
        sb.AppendLine("# Memory estimates for common fine-tuning configurations");
        sb.AppendLine();
        sb.AppendLine("Generated by `gputel estimate --table docs/ESTIMATES.md`; do not edit by hand (a test checks that this");
        sb.AppendLine("file is what the command writes). `gputel estimate` prints the formula behind every figure, and");
        sb.AppendLine("`gputel fit` searches the configurations that fit a GPU.");
        sb.AppendLine();
        sb.AppendLine("## LLaMA-Factory's table beside ours");
        sb.AppendLine();
        sb.AppendLine("LLaMA-Factory's README (\"Hardware Requirement\") gives one figure per method and model size: 18 B per");
        sb.AppendLine("parameter for full fine-tuning in mixed precision, 8 B for pure bf16, 2 B for freeze and LoRA, 1 B and");
        sb.AppendLine("0.5 B for 8-bit and 4-bit QLoRA (its 7B/14B/30B/70B columns: 120/240/600/1200 GB, 60/120/300/600,");
        sb.AppendLine("16/32/64/160, 10/20/40/80 and 6/12/24/48 GB). Its rule is applied here to each model's exact");
        sb.AppendLine("parameter count. Ours: one GPU, batch 1, gradient checkpointing on (LLaMA-Factory's default), SDPA");
        sb.AppendLine("attention, AdamW, LoRA rank 8 on all seven projections (`lora_target: all`), freeze training the last");
        sb.AppendLine("2 layers, every sequence padded to the cutoff (`--data` measures a dataset instead). GB = 10^9 bytes.");
        sb.AppendLine();
        sb.AppendLine("| method | dtype | model | parameters | LLaMA-Factory's rule | ours, cutoff 1024 | ours, cutoff 2048 |");
        sb.AppendLine("| --- | --- | --- | ---: | ---: | ---: | ---: |");
        var methods = new (string Label, FineTuneMethod Method, string Dtype, WeightQuantization Quantization, double BytesPerParameter)[]
        {
            ("full", FineTuneMethod.Full, "bf16-mixed", WeightQuantization.None, 18),
            ("full", FineTuneMethod.Full, "bf16", WeightQuantization.None, 8),
            ("freeze", FineTuneMethod.Freeze, "bf16-mixed", WeightQuantization.None, 2),
            ("lora", FineTuneMethod.Lora, "bf16-mixed", WeightQuantization.None, 2),
            ("qlora 8-bit", FineTuneMethod.Lora, "bf16-mixed", WeightQuantization.EightBit, 1),
            ("qlora 4-bit", FineTuneMethod.Lora, "bf16-mixed", WeightQuantization.FourBit, 0.5),
        };
        string[] sizes = ["qwen2-7b", "qwen2.5-14b", "qwen2.5-32b", "qwen2.5-72b"];
        foreach (var (label, method, dtype, quantization, rule) in methods)
        {
            foreach (string name in sizes)
            {
                ModelShape shape = ModelShape.Named(name);
                long parameters = shape.ParameterCount().WithVision;
                string Ours(int cutoff) => Gb(MemoryEstimator.Estimate(Common(name, method, dtype, quantization, cutoff, 1)).PeakBytes);
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {label} | {dtype} | {name} | {parameters / 1e9:0.00} B | {rule * parameters / GB:0.0} | {Ours(1024)} | {Ours(2048)} |");
            }
        }

        sb.AppendLine();
        sb.AppendLine("Where they differ, and why:");
        sb.AppendLine();
        sb.AppendLine("- Freeze, LoRA and QLoRA: the rule counts the weights only. At a 152 k vocabulary the loss alone keeps");
        sb.AppendLine("  the logits and an fp32 log-softmax (b x s x 152,064 x 6 B, 0.9 GB per 1024 tokens) and its backward");
        sb.AppendLine("  two fp32 copies more; with the CUDA context, the allocator's slack and the checkpointed layers'");
        sb.AppendLine("  inputs that is several GB the rule leaves out, most of the gap on the small models.");
        sb.AppendLine("- Full in mixed precision: the rule's 18 B is DeepSpeed's split (16-bit weights and gradients, fp32");
        sb.AppendLine("  master and moments). Without DeepSpeed, Hugging Face Trainer keeps the model itself in fp32 (4 B),");
        sb.AppendLine("  fp32 gradients (4 B) and moments (8 B): 16 B, and PyTorch's foreach AdamW holds one more fp32 list");
        sb.AppendLine("  (sqrt of the second moments, 4 B) during the step, which makes the step the peak at 20 B.");
        sb.AppendLine("- Full pure bf16: 8 B of state, plus the same 2 B foreach list during the step and the activations.");
        sb.AppendLine("- Across GPUs the rule divides by nothing; `--gpus N --zero-stage 1|2|3` follows DeepSpeed's own");
        sb.AppendLine("  estimators (below).");
        sb.AppendLine();
        sb.AppendLine("## By category");
        sb.AppendLine();
        sb.AppendLine("The same settings, by category, in GiB per GPU at the peak; batch 1 and 4. \"8 GPUs ZeRO-3\" is");
        sb.AppendLine("DeepSpeed ZeRO-3 (LLaMA-Factory's ds_z3_config) in bf16 mixed precision: 16-bit parameters and");
        sb.AppendLine("gradients, fp32 master weights and moments, 18 B per parameter divided across the GPUs, the largest");
        sb.AppendLine("layer gathered, NCCL's buffers on every rank. \"Model state only\" is the usual table's figure.");
        sb.AppendLine();
        sb.AppendLine("| model | configuration | cutoff | batch | weights | gradients | optimizer | activations | temporary | runtime + cache | **peak** | peak phase | model state only |");
        sb.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |");
        var configurations = new (string Label, FineTuneMethod Method, string Dtype, WeightQuantization Quantization, int Gpus)[]
        {
            ("full, 8 GPUs ZeRO-3", FineTuneMethod.Full, "bf16-mixed", WeightQuantization.None, 8),
            ("full, bf16-mixed", FineTuneMethod.Full, "bf16-mixed", WeightQuantization.None, 1),
            ("freeze, bf16-mixed", FineTuneMethod.Freeze, "bf16-mixed", WeightQuantization.None, 1),
            ("lora, bf16-mixed", FineTuneMethod.Lora, "bf16-mixed", WeightQuantization.None, 1),
            ("qlora 4-bit", FineTuneMethod.Lora, "bf16-mixed", WeightQuantization.FourBit, 1),
        };
        foreach (string name in new[] { "qwen2-1.5b", "qwen2-7b", "qwen2.5-32b" })
        {
            foreach (var (label, method, dtype, quantization, gpus) in configurations)
            {
                foreach (int cutoff in new[] { 1024, 2048 })
                {
                    foreach (int batch in new[] { 1, 4 })
                    {
                        EstimateRequest request = Common(name, method, dtype, quantization, cutoff, batch) with { Gpus = gpus, ZeroStage = gpus > 1 ? 3 : 0 };
                        MemoryEstimate e = MemoryEstimator.Estimate(request);
                        sb.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {label} | {cutoff} | {batch} | {Gib(e[MemoryCategory.Weights])} | {Gib(e[MemoryCategory.Gradients])} | {Gib(e[MemoryCategory.OptimizerState])} | {Gib(e[MemoryCategory.Activations])} | {Gib(e[MemoryCategory.Temporary])} | {Gib(e[MemoryCategory.Runtime] + e[MemoryCategory.AllocatorCache])} | **{Gib(e.PeakBytes)}** | {e.PeakPhase} | {Gib(e.ModelStateOnlyBytes)} |");
                    }
                }
            }
        }

        return sb.ToString();

        static EstimateRequest Common(string name, FineTuneMethod method, string dtype, WeightQuantization quantization, int cutoff, int batch) => new()
        {
            Shape = ModelShape.Named(name),
            ModelName = name,
            Method = method,
            TrainableLayers = 2,
            Lora = new LoraSettings(8, 16),
            Dtype = dtype,
            Quantization = quantization,
            BatchSize = batch,
            CutoffLength = cutoff,
            GradientCheckpointing = true,
        };
    }
}
