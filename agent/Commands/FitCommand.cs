using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Gputel.Core.Data;
using Gputel.Core.Estimation;
using Gputel.Core.Model;
using Gputel.Core.Reports;
using Gputel.Core.Training;
using Spectre.Console;

namespace Gputel.Agent.Commands;

/// <summary><c>gputel fit</c>: which fine-tuning configurations fit the GPUs at hand, best first.</summary>
internal static class FitCommand
{
    private const double GiB = 1024.0 * 1024 * 1024;

    public static Command Create()
    {
        var gpuMemory = new Option<string>("--gpu-memory") { Description = "Memory of one GPU: 80GiB, 81920MiB, 24GiB; GB and MB are decimal (80GB is 74.5 GiB), as a card's \"80GB\" in its name is not.", Required = true };
        var gpus = new Option<int>("--gpus") { Description = "Data-parallel GPUs; above 1, ZeRO stages 0-3 are tried (with a -mixed dtype, optimizer and parameter offload as well, on one GPU too).", DefaultValueFactory = _ => 1 };
        var model = new Option<string>("--model") { Description = $"Built-in shape ({string.Join(", ", ModelShape.BuiltInNames)}) or a Hugging Face config.json or checkpoint directory (with --data, the directory with tokenizer.json).", Required = true };
        var cutoff = new Option<int?>("--cutoff-len") { Description = $"Tokens per sequence; without it {string.Join(", ", FitDimension.StandardCutoffs)} are tried (up to the model's positions)." };
        var data = DataLengths.CreateOption();
        var methods = new Option<string>("--methods") { Description = "Comma-separated methods to try: full, freeze, lora.", DefaultValueFactory = _ => "full,freeze,lora" };
        var batchSizes = new Option<string>("--batch-sizes") { Description = "Comma-separated micro-batch sizes to try.", DefaultValueFactory = _ => string.Join(',', FitDimension.StandardBatchSizes) };
        var accumulation = new Option<int>("--gradient-accumulation") { Description = "Micro-batches per step (multiplies the effective batch).", DefaultValueFactory = _ => 1 };
        var dtype = new Option<string>("--dtype") { Description = "bf16-mixed, fp16-mixed, bf16, fp16 or fp32 (see gputel estimate --help); with a -mixed dtype DeepSpeed's CPU offload is tried too.", DefaultValueFactory = _ => "bf16" };
        var optimizer = new Option<string>("--optimizer") { Description = "adamw or sgd.", DefaultValueFactory = _ => "adamw" };
        var loraRank = new Option<int>("--lora-rank") { Description = "LoRA rank (all seven projections).", DefaultValueFactory = _ => 8 };
        var trainableLayers = new Option<int>("--trainable-layers") { Description = "For freeze: how many last layers train.", DefaultValueFactory = _ => 2 };
        var attention = new Option<string>("--attention") { Description = "sdpa (fused) or eager (materialised scores).", DefaultValueFactory = _ => "sdpa" };
        var margin = new Option<string>("--margin") { Description = "Memory kept free beyond the estimated peak: a share of the GPU (5%) or a size (2GiB).", DefaultValueFactory = _ => "5%" };
        var top = new Option<int>("--top") { Description = "How many configurations to list; 0 lists all that fit.", DefaultValueFactory = _ => 20 };
        var allVariants = new Option<bool>("--all-variants") { Description = "Also list the slower ways (checkpointing, higher ZeRO stages) of a training that fits a faster way." };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };

        var command = new Command("fit", """
            List the fine-tuning configurations whose estimated peak fits one GPU's memory with a safety margin.
            Tries every combination of method (full, freeze, lora), micro-batch (1, 2, 4 ... 64), cutoff (unless given),
            gradient checkpointing (off, on) and, over several GPUs, ZeRO stage 0-3, estimates each as `gputel estimate`
            does, and ranks those that fit: the longest cutoff first (sequences not cut), then the largest effective batch
            (micro-batch x GPUs x accumulation), then the least compute (checkpointing: +33%, one more forward pass), then
            the least communication (ZeRO-3: 1.5x data parallel's), then the most headroom. Of the ways to run one training
            (same method, batch and cutoff) only the fastest that fits is listed, unless --all-variants. With --data the
            batches are padded to their longest sequence, as collators pad them: the largest batch must fit, and a
            typical batch's peak is shown beside it.
            """)
        {
            gpuMemory, gpus, model, cutoff, data, methods, batchSizes, accumulation, dtype, optimizer, loraRank, trainableLayers, attention, margin, top, allVariants, json,
        };

        command.SetAction(parse =>
        {
            try
            {
                string memoryText = parse.GetValue(gpuMemory)!;
                long memory = ByteText.TryParseSize(memoryText, out long m) ? m
                    : throw new ArgumentException($"invalid gpu-memory '{memoryText}': expected a size such as 80GiB, 81920MiB or 80GB");
                FitMargin fitMargin = FitMargin.Parse(parse.GetValue(margin)!);
                TrainingSettings.Require(fitMargin.Reserve(memory) < memory, "margin", parse.GetValue(margin)!, "leaves nothing of the GPU's memory");
                int gpuCount = parse.GetValue(gpus);
                TrainingSettings.Require(gpuCount >= 1, "gpus", gpuCount, "must be a positive number");
                int topCount = parse.GetValue(top);
                TrainingSettings.Require(topCount >= 0, "top", topCount, "must be 0 (all) or more");
                int? fixedCutoff = parse.GetValue(cutoff);
                TrainingSettings.Require(fixedCutoff is null or >= TrainingSettings.MinimumCutoffLength, "cutoff-len", fixedCutoff ?? 0, $"must be at least {TrainingSettings.MinimumCutoffLength}");
                var lora = new LoraSettings(parse.GetValue(loraRank), 2.0 * parse.GetValue(loraRank));
                TrainingSettings.ValidateShared(lora, parse.GetValue(accumulation));

                string name = parse.GetValue(model)!;
                ModelShape shape = ModelShape.Resolve(name);
                var baseRequest = new EstimateRequest
                {
                    Shape = shape,
                    ModelName = name,
                    TrainableLayers = parse.GetValue(trainableLayers),
                    Lora = lora,
                    Dtype = parse.GetValue(dtype)!,
                    Optimizer = parse.GetValue(optimizer) switch { "adamw" => OptimizerKind.AdamW, "sgd" => OptimizerKind.Sgd, var o => throw new ArgumentException($"invalid optimizer '{o}': expected adamw or sgd") },
                    GradientAccumulation = parse.GetValue(accumulation),
                    Gpus = gpuCount,
                    Attention = parse.GetValue(attention)!,
                };
                FitDimension[] dimensions =
                [
                    FitDimension.Methods(List(parse.GetValue(methods)!, "methods", Method)),
                    FitDimension.Cutoffs(fixedCutoff, shape.MaxPositions),
                    FitDimension.BatchSizes(List(parse.GetValue(batchSizes)!, "batch-sizes", BatchSize)),
                    FitDimension.Checkpointing(),
                    FitDimension.ZeroStages(gpuCount, baseRequest.MixedPrecision),
                ];

                string? dataPath = parse.GetValue(data);
                SequenceLengths? lengths = dataPath is null ? null : DataLengths.Measure("fit", dataPath, name);
                FitResult result = FitSearch.Run(baseRequest, dimensions, memory, fitMargin, lengths, parse.GetValue(allVariants));
                IReadOnlyList<FitCandidate> listed = topCount == 0 ? result.Listed : [.. result.Listed.Take(topCount)];
                if (parse.GetValue(json))
                {
                    Console.WriteLine(ToJson(result, listed, name, dataPath));
                }
                else
                {
                    Print(result, listed, name, dataPath, gpuCount);
                }

                return 0;
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"gputel fit: {Program.Describe(e)}");
                return Program.UsageError;
            }
        });
        return command;
    }

    private static T[] List<T>(string text, string option, Func<string, string, T> parse)
    {
        string[] items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        TrainingSettings.Require(items.Length > 0, option, text, "must name at least one value");
        return [.. items.Select(i => parse(i, option)).Distinct()];
    }

    private static FineTuneMethod Method(string text, string option) =>
        Enum.TryParse(text, ignoreCase: true, out FineTuneMethod m) && Enum.IsDefined(m) && !int.TryParse(text, out _)
            ? m
            : throw new ArgumentException($"invalid {option} '{text}': expected full, freeze or lora");

    private static int BatchSize(string text, string option) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int b) && b >= 1
            ? b
            : throw new ArgumentException($"invalid {option} '{text}': each must be a positive whole number");

    private static string Gib(long bytes) => (bytes / GiB).ToString("0.00", CultureInfo.InvariantCulture);

    private static string Factor(double factor) => factor == 1 ? "-" : factor.ToString("0.##", CultureInfo.InvariantCulture) + "x";

    private static void Print(FitResult result, IReadOnlyList<FitCandidate> listed, string model, string? dataPath, int gpus)
    {
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"{model} on {(gpus > 1 ? $"{gpus} GPUs" : "one GPU")} of {Gib(result.GpuMemoryBytes)} GiB: a peak may reach {Gib(result.UsableBytes)} GiB (margin {result.Margin}); {result.Fitting} of {result.Considered} configurations fit, {result.Listed.Count} worth listing")));
        if (result.Lengths is { } lengths)
        {
            var stats = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"tokens per example of {dataPath}"));
            foreach (string column in new[] { "examples", "min", "p50", "p90", "p99", "max", "mean" })
            {
                stats.AddColumn(new TableColumn(column).RightAligned());
            }

            stats.AddRow([.. DataLengths.Row(lengths, null).Select(Markup.Escape)]);
            AnsiConsole.Write(stats);
        }
        else
        {
            AnsiConsole.MarkupLine(Markup.Escape($"assumes every sequence padded to the cutoff: an upper bound, since collators pad each batch to its longest sequence; --data FILE measures a dataset's lengths"));
        }

        if (listed.Count == 0)
        {
            AnsiConsole.MarkupLine(Markup.Escape("nothing fits: try more GPUs (ZeRO shards model state), a shorter cutoff, or LoRA"));
            return;
        }

        var table = new Table().Border(TableBorder.Rounded).AddColumn(new TableColumn("#").RightAligned());
        foreach (FitDimension d in result.Dimensions)
        {
            table.AddColumn(d.Name);
        }

        table.AddColumn(new TableColumn("eff. batch").RightAligned());
        if (result.Lengths is not null)
        {
            table.AddColumn(new TableColumn("cut").RightAligned()).AddColumn(new TableColumn("longest batch").RightAligned()).AddColumn(new TableColumn("typical GiB").RightAligned());
        }

        table.AddColumn(new TableColumn("peak GiB").RightAligned()).AddColumn(new TableColumn("margin GiB").RightAligned())
            .AddColumn(new TableColumn("compute").RightAligned()).AddColumn(new TableColumn("comm.").RightAligned()).AddColumn("speed cost");
        int rank = 0;
        foreach (FitCandidate c in listed)
        {
            var cells = new List<string> { (++rank).ToString(CultureInfo.InvariantCulture) };
            cells.AddRange(c.Labels);
            cells.Add(c.EffectiveBatch.ToString(CultureInfo.InvariantCulture));
            if (result.Lengths is { } l)
            {
                cells.Add(DataLengths.Cut(l, c.Request.CutoffLength));
                cells.Add($"{c.Request.BatchSize} x {c.BatchLength}");
                cells.Add(Gib(c.Typical!.PeakBytes));
            }

            cells.Add(Gib(c.Estimate.PeakBytes));
            cells.Add(string.Create(CultureInfo.InvariantCulture, $"{Gib(c.HeadroomBytes)} ({100.0 * c.HeadroomBytes / result.GpuMemoryBytes:0}%)"));
            cells.Add(Factor(c.ComputeFactor));
            cells.Add(Factor(c.CommunicationFactor));
            cells.Add(c.Costs.Count == 0 ? "none" : string.Join("; ", c.Costs));
            table.AddRow([.. cells.Select(Markup.Escape)]);
        }

        AnsiConsole.Write(table);
        if (listed.Count < result.Listed.Count)
        {
            AnsiConsole.MarkupLine(Markup.Escape($"{result.Listed.Count - listed.Count} more; --top 0 lists them all"));
        }

        AnsiConsole.MarkupLine(Markup.Escape("peak: the largest batch's estimated peak per GPU (gputel estimate prints its categories); margin: the GPU's memory less the peak; compute and comm.: relative to no checkpointing and plain data parallelism."));
    }

    private static string ToJson(FitResult result, IReadOnlyList<FitCandidate> listed, string model, string? dataPath)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("model", model);
            w.WriteNumber("gpu_memory_bytes", result.GpuMemoryBytes);
            w.WriteString("margin", result.Margin.ToString());
            w.WriteNumber("usable_bytes", result.UsableBytes);
            w.WriteNumber("considered", result.Considered);
            w.WriteNumber("fitting", result.Fitting);
            w.WriteNumber("worth_listing", result.Listed.Count);
            w.WriteStartObject("sequence_lengths");
            if (result.Lengths is { } lengths)
            {
                w.WriteString("assumption", "padded_to_longest_in_batch");
                w.WriteString("data", dataPath);
                DataLengths.WriteDistribution(w, lengths, null);
            }
            else
            {
                w.WriteString("assumption", "padded_to_cutoff");
                w.WriteString("note", "every sequence padded to the cutoff: an upper bound, since collators pad each batch to its longest sequence; --data FILE measures a dataset's lengths");
            }

            w.WriteEndObject();
            w.WriteStartArray("configurations");
            int rank = 0;
            foreach (FitCandidate c in listed)
            {
                w.WriteStartObject();
                w.WriteNumber("rank", ++rank);
                for (int i = 0; i < result.Dimensions.Count; i++)
                {
                    w.WriteString(result.Dimensions[i].Name, c.Labels[i]);
                }

                w.WriteNumber("effective_batch", c.EffectiveBatch);
                w.WriteNumber("batch_length", c.BatchLength);
                w.WriteNumber("peak_bytes", c.Estimate.PeakBytes);
                w.WriteString("peak_phase", c.Estimate.PeakPhase.Name);
                w.WriteNumber("margin_bytes", c.HeadroomBytes);
                if (c.Typical is { } typical)
                {
                    w.WriteNumber("typical_length", c.TypicalLength!.Value);
                    w.WriteNumber("typical_peak_bytes", typical.PeakBytes);
                    w.WriteNumber("cut_examples", result.Lengths!.CountLongerThan(c.Request.CutoffLength));
                }

                w.WriteNumber("compute_factor", Math.Round(c.ComputeFactor, 4));
                w.WriteNumber("communication_factor", Math.Round(c.CommunicationFactor, 4));
                w.WriteStartArray("speed_costs");
                foreach (string cost in c.Costs)
                {
                    w.WriteStringValue(cost);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
