using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Gputel.Agent.Hosting;
using Gputel.Core.Memory;
using Gputel.Core.Model;
using Gputel.Core.Training;
using Gputel.Profiler;
using Gputel.Profiler.Model;
using Gputel.Profiler.Training;
using Spectre.Console;
using static TorchSharp.torch;

namespace Gputel.Agent.Commands;

/// <summary><c>gputel finetune</c>: the reference fine-tuning workload with the memory profiler attached.</summary>
internal static partial class FinetuneCommand
{
    private const double MiB = 1024 * 1024;

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = $"Built-in shape ({string.Join(", ", ModelShape.BuiltInNames)}: fresh weights), a Hugging Face model directory (config.json, with its safetensors weights loaded when it has them), or a config.json file (its shape with fresh weights).", DefaultValueFactory = _ => "tiny" };
        var checkpoint = new Option<string>("--checkpoint") { Description = "Hugging Face checkpoint directory (config.json + model.safetensors or its shard index) to load; refused without safetensors weights." };
        var tokenizer = new Option<string>("--tokenizer") { Description = "For --data: auto (the model directory's tokenizer.json, refused where it has none; bytes for a built-in shape), bytes (one token per byte), or a directory holding tokenizer.json.", DefaultValueFactory = _ => "auto" };
        var method = new Option<string>("--method") { Description = "full, freeze or lora.", DefaultValueFactory = _ => "lora" };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps.", DefaultValueFactory = _ => 10 };
        var output = new Option<string>("--out") { Description = "Run record directory (default runs/<time>)." };
        var data = new Option<string>("--data") { Description = "Alpaca JSONL dataset; default: synthetic batches of --cutoff-len tokens." };
        var dtype = new Option<string>("--dtype") { Description = "fp32 or bf16.", DefaultValueFactory = _ => "fp32" };
        var optimizer = new Option<string>("--optimizer") { Description = "adamw or sgd.", DefaultValueFactory = _ => "adamw" };
        var learningRate = new Option<double>("--lr") { Description = "Learning rate.", DefaultValueFactory = _ => 1e-4 };
        var batchSize = new Option<int>("--batch-size") { Description = "Sequences per micro-batch.", DefaultValueFactory = _ => 1 };
        var cutoff = new Option<int>("--cutoff-len") { Description = "Longest sequence in tokens, at least 2.", DefaultValueFactory = _ => 128 };
        var accumulation = new Option<int>("--gradient-accumulation") { Description = "Micro-batches per step.", DefaultValueFactory = _ => 1 };
        var checkpointing = new Option<bool>("--gradient-checkpointing") { Description = "Recompute each layer in backward instead of keeping its activations." };
        var loraRank = new Option<int>("--lora-rank") { Description = "LoRA rank.", DefaultValueFactory = _ => 8 };
        var loraAlpha = new Option<double>("--lora-alpha") { Description = "LoRA alpha.", DefaultValueFactory = _ => 16 };
        var loraDropout = new Option<double>("--lora-dropout") { Description = "LoRA dropout, at least 0 and below 1.", DefaultValueFactory = _ => 0 };
        var loraTargets = new Option<string>("--lora-targets") { Description = "Comma-separated projections (default all: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj)." };
        var trainableLayers = new Option<int>("--trainable-layers") { Description = "For --method freeze: how many last layers train.", DefaultValueFactory = _ => 2 };
        var seed = new Option<long>("--seed") { Description = "Seed.", DefaultValueFactory = _ => 42 };
        var exactCpuPeaks = new Option<bool>("--exact-cpu-peaks") { Description = "On the CPU, measure each phase's peak exactly: glibc maps every block over 128 KiB fresh so the kernel's resident high-water mark follows the allocator. Slows CPU training, since every large tensor is then page-faulted afresh (steps 9-83% longer in docs/BENCHMARKS.md); without it, peaks are sampled, a lower bound (within 4.5% of the exact ones there)." };
        var device = new Option<string>("--device") { Description = "cpu, or cuda / cuda:N for a CUDA device. CUDA runs take libtorch from a PyTorch install on LD_LIBRARY_PATH (a build published with -p:TorchFromHost=true; see profiler-hooks/README.md) and are measured from the device's memory pool (PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync, set for the run).", DefaultValueFactory = _ => "cpu" };
        var metricsListen = new Option<string>("--metrics-listen") { Description = "Serve the live training gauges (training_memory_bytes{category,phase}, ...) on http://HOST:PORT/metrics while the run lasts." };
        OtlpOptions otlp = OtlpOptions.Create();

        var command = new Command("finetune", "Fine-tune the reference Llama/Qwen2 model on the CPU or a CUDA GPU with the memory profiler attached; writes a run record.")
        {
            model, checkpoint, method, steps, output, data, tokenizer, dtype, optimizer, learningRate, batchSize, cutoff, accumulation, checkpointing, exactCpuPeaks,
            loraRank, loraAlpha, loraDropout, loraTargets, trainableLayers, seed, device, metricsListen,
        };
        otlp.AddTo(command);

        command.SetAction(parse =>
        {
            FineTuneOptions options;
            try
            {
                ModelSource source = ResolveModel(parse.GetValue(model)!, parse.GetResult(model) is { Implicit: false }, parse.GetValue(checkpoint));
                if (source.Shape.NotTrainableReason is { } notTrainable)
                {
                    // The estimator models it; the reference workload builds Qwen2/Llama decoders only.
                    throw new ArgumentException($"--model {parse.GetValue(model)} is {notTrainable}, which finetune cannot build (it trains Qwen2 and Llama decoders); gputel estimate models it");
                }
                string? outText = parse.GetValue(output);
                if (outText is { Length: 0 })
                {
                    throw new ArgumentException("invalid out '': name the run record's directory, or leave --out out for runs/<time>");
                }

                options = new FineTuneOptions(source.Shape, outText ?? NewRunDirectory("runs", DateTime.UtcNow))
                {
                    ModelName = source.Name,
                    CheckpointDirectory = source.CheckpointDirectory,
                    ConfigDirectory = source.ConfigDirectory,
                    Tokenizer = Gputel.Profiler.Data.TokenizerChoice.Parse(parse.GetValue(tokenizer)!),
                    Method = Parse<FineTuneMethod>("method", parse.GetValue(method)!),
                    Steps = parse.GetValue(steps),
                    DataFile = parse.GetValue(data),
                    Dtype = parse.GetValue(dtype) switch
                    {
                        "fp32" => ScalarType.Float32,
                        "bf16" => ScalarType.BFloat16,
                        var other => throw new ArgumentException($"invalid dtype '{other}': expected fp32 or bf16"),
                    },
                    Optimizer = Parse<OptimizerKind>("optimizer", parse.GetValue(optimizer)!),
                    LearningRate = parse.GetValue(learningRate),
                    BatchSize = parse.GetValue(batchSize),
                    CutoffLength = parse.GetValue(cutoff),
                    GradientAccumulation = parse.GetValue(accumulation),
                    GradientCheckpointing = parse.GetValue(checkpointing),
                    ExactCpuPeaks = parse.GetValue(exactCpuPeaks),
                    Lora = parse.GetValue(loraTargets) is { } targets
                        ? new LoraSettings(parse.GetValue(loraRank), parse.GetValue(loraAlpha), parse.GetValue(loraDropout), targets.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                        : new LoraSettings(parse.GetValue(loraRank), parse.GetValue(loraAlpha), parse.GetValue(loraDropout)),
                    TrainableLayers = parse.GetValue(trainableLayers),
                    Seed = parse.GetValue(seed),
                    Device = ComputeDevice.Parse(parse.GetValue(device)!),
                };
                // Out-of-range settings are refused here, before anything is written.
                options.Validate();
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or KeyNotFoundException or FileNotFoundException or DirectoryNotFoundException)
            {
                Console.Error.WriteLine($"gputel finetune: {Program.Describe(e)}");
                return Task.FromResult(Program.UsageError);
            }

            // A run record is append-only: writing a second run into one would mix the two.
            if (File.Exists(Path.Combine(options.OutputDirectory, "run.json")) || File.Exists(Path.Combine(options.OutputDirectory, "steps.jsonl")))
            {
                Console.Error.WriteLine($"gputel finetune: --out {options.OutputDirectory} already holds a run record; choose a new directory");
                return Task.FromResult(Program.UsageError);
            }

            if (File.Exists(options.OutputDirectory))
            {
                Console.Error.WriteLine($"gputel finetune: --out {options.OutputDirectory} is a file; the run record is a directory");
                return Task.FromResult(Program.UsageError);
            }

            Configuration.ListenAddress? listen = null;
            if (parse.GetValue(metricsListen) is { } listenText && !Configuration.ListenAddress.TryParse(listenText, out listen))
            {
                Console.Error.WriteLine($"gputel finetune: invalid metrics-listen '{listenText}': expected HOST:PORT");
                return Task.FromResult(Program.UsageError);
            }

            Configuration.OtlpSettings? otlpSettings;
            try
            {
                var flags = new Dictionary<string, string?>();
                otlp.AddFlags(parse, flags);
                otlpSettings = Configuration.SettingsLoader.LoadOtlp(flags, Environment.GetEnvironmentVariable);
            }
            catch (Configuration.SettingsException e)
            {
                Console.Error.WriteLine($"gputel finetune: {Program.Describe(e)}");
                return Task.FromResult(Program.UsageError);
            }

            IDisposable? server = null;
            try
            {
                server = listen is null ? null : TrainingMetricsServer.Start(listen);
            }
            catch (IOException e)
            {
                // Kestrel's bind failure (the port in use, an address not on this host).
                Console.Error.WriteLine($"gputel finetune: cannot serve the training gauges on {listen}: {Program.Describe(e)}");
                return Task.FromResult(Program.UsageError);
            }

            using IDisposable? serving = server;
            using IDisposable? export = otlpSettings is null ? null : OtlpExport.StartTraining(otlpSettings, AgentHost.Version, line => Console.Error.WriteLine($"gputel finetune: {line}"));
            if (otlpSettings is not null)
            {
                Console.WriteLine($"training metrics and phase spans over OTLP to {otlpSettings}");
            }

            // One trace per run: the phase spans of every step are its children.
            using (System.Diagnostics.Activity? run = Gputel.Profiler.Telemetry.TrainingTelemetry.Activities.StartActivity("finetune"))
            {
                run?.SetTag("training.run.id", options.RunId);
                run?.SetTag("training.method", options.Method.ToString().ToLowerInvariant());
                run?.SetTag("training.model", options.ModelName);
                using var interruption = new Interruption();
                return Task.FromResult(Run(options, interruption));
            }
        });
        return command;
    }

    /// <summary>
    /// Ctrl-C and SIGTERM while a fine-tune runs. The first asks the loop to stop after the step in
    /// progress, so every completed step is recorded and <c>end.json</c> written; a second ends the
    /// process at once (<c>_exit</c>: a graceful runtime shutdown could wait on the training thread
    /// inside libtorch), and the record then reads as cut off, each line written so far whole.
    /// Handlers run on threads of their own, and one may still run as the run ends.
    /// </summary>
    private sealed partial class Interruption : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly PosixSignalRegistration _interrupt;
        private readonly PosixSignalRegistration _terminate;
        private int _signals;
        private volatile int _exitCode = Interrupted;

        public Interruption()
        {
            _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        }

        public CancellationToken Token => _stop.Token;

        /// <summary>What a shell reports for a command the first signal interrupted: 128 + its number.</summary>
        public int ExitCode => _exitCode;

        private void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            int code = context.Signal == PosixSignal.SIGTERM ? 128 + 15 : Interrupted;
            if (Interlocked.Increment(ref _signals) > 1)
            {
                _exit(code);
            }

            _exitCode = code;
            Console.Error.WriteLine($"gputel finetune: stopping after the step in progress ({(code == Interrupted ? "Ctrl-C" : "SIGTERM")} again to stop now)");
            try
            {
                _stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The run had already ended.
            }
        }

        public void Dispose()
        {
            _interrupt.Dispose();
            _terminate.Dispose();
            _stop.Dispose();
        }

        [LibraryImport("libc")]
        private static partial void _exit(int status);
    }

    // Model state and activations always (what the common tables count, and what they leave out);
    // the other categories where they hold 0.05 MiB or more, so the figures shown add up to the peak.
    private static bool AlwaysShown(MemoryCategory category) =>
        category is MemoryCategory.Weights or MemoryCategory.Gradients or MemoryCategory.OptimizerState or MemoryCategory.Activations;

    /// <summary>
    /// One step's progress line: step, loss, throughput, the step's peak and its phase, and the
    /// categories as they stood at that peak (at a backward peak, the activations it began with), in MiB.
    /// </summary>
    internal static string ProgressLine(StepReport report)
    {
        var line = new System.Text.StringBuilder();
        line.Append(CultureInfo.InvariantCulture,
            $"step {report.Step + 1,4}/{report.Steps}  loss {report.Loss,8:0.0000}  {report.TokensPerSecond,9:0} tokens/s  peak {report.Peak.PeakBytes / MiB,8:0.0} MiB ({report.Peak.Phase}):");
        // Only the categories a run record holds: BytesAtPeak has one slot for each of them.
        foreach (CategoryInfo row in MemoryCategories.Table.Where(r => r.InRunRecords))
        {
            double mib = report.BytesAtPeak[(int)row.Category] / MiB;
            if (AlwaysShown(row.Category) || Math.Abs(mib) >= 0.05)
            {
                line.Append(CultureInfo.InvariantCulture, $"  {row.Label} {mib:0.0}");
            }
        }

        return line.Append(" MiB").ToString();
    }

    /// <summary>Exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report an interrupted command; 143 for SIGTERM).</summary>
    public const int Interrupted = 130;

    private static int Run(FineTuneOptions options, Interruption interruption)
    {
        CancellationToken cancellationToken = interruption.Token;
        string where = options.Device.IsCpu ? "the CPU" : options.Device.ToString();
        // Said every time: fresh weights where a checkpoint was meant is the mistake that costs a run.
        string weights = options.CheckpointDirectory is null ? "fresh random weights" : "weights from its checkpoint";
        AnsiConsole.MarkupLine($"fine-tuning [bold]{Markup.Escape(options.ModelName)}[/] ({options.Method.ToString().ToLowerInvariant()}, {options.Steps} steps, {weights}) on {Markup.Escape(where)}; run record: [bold]{Markup.Escape(options.OutputDirectory)}[/]");
        IReadOnlyList<MemorySnapshot> snapshots;
        try
        {
            snapshots = FineTuneRun.Run(options, report => AnsiConsole.WriteLine(ProgressLine(report)), cancellationToken);
        }
        // Inputs (checkpoint, tokenizer, dataset) are all read before the run record is created, so
        // a bad one leaves nothing behind.
        catch (Exception e) when (e is InvalidDataException or ArgumentException or Gputel.Core.Checkpoints.SafetensorsException
            or NotSupportedException or KeyNotFoundException or FileNotFoundException or DirectoryNotFoundException)
        {
            Console.Error.WriteLine($"gputel finetune: {Program.Describe(e)}");
            return Program.UsageError;
        }
        catch (ExternalException e)
        {
            // libtorch's own error mid-run (out of memory, most often): the record keeps every phase
            // measured up to it, and end.json says where and why it ended.
            Console.Error.WriteLine($"gputel finetune: the run failed: {e.Message.Split('\n', 2)[0].Trim()}");
            Console.Error.WriteLine($"gputel finetune: {options.OutputDirectory} keeps what was measured up to the failure; gputel report shows it");
            return 1;
        }
        catch (LibtorchLoadException e)
        {
            // Before anything is written: the machine cannot run libtorch as set up.
            Console.Error.WriteLine($"gputel finetune: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The run record cannot be made or written (a parent that is a file, no permission, a
            // full disk): every line written before stays readable.
            Console.Error.WriteLine($"gputel finetune: cannot write the run record in {options.OutputDirectory}: {Program.Describe(e)}");
            return 1;
        }

        PrintPeakTable(snapshots);
        AnsiConsole.MarkupLine($"run record written to [bold]{Markup.Escape(Path.GetFullPath(options.OutputDirectory))}[/]");
        // Stopped by Ctrl-C or SIGTERM after the step in progress: the record is complete up to there
        // (end.json says "cancelled"), and the exit code says the run did not finish, as a shell's
        // would for a command it interrupted.
        int completed = snapshots.Count == 0 ? 0 : snapshots[^1].Step + 1;
        if (cancellationToken.IsCancellationRequested && completed < options.Steps)
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gputel finetune: stopped after {completed} of {options.Steps} steps"));
            return interruption.ExitCode;
        }

        return 0;
    }

    /// <summary>
    /// <paramref name="root"/>/&lt;UTC time&gt;, or with -2, -3, ... after it where a run started in the same
    /// second already has that directory: a default the user did not choose must not collide with an
    /// earlier record.
    /// </summary>
    internal static string NewRunDirectory(string root, DateTime now)
    {
        string stem = Path.Combine(root, now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
        string candidate = stem;
        for (int n = 2; Directory.Exists(candidate); n++)
        {
            candidate = string.Create(CultureInfo.InvariantCulture, $"{stem}-{n}");
        }

        return candidate;
    }

    private static void PrintPeakTable(IReadOnlyList<MemorySnapshot> snapshots)
    {
        if (snapshots.Count == 0)
        {
            return;
        }

        // The last step: steady state, with step 0's one-time set-up settled. Read from the end: the
        // snapshot log builds each snapshot it hands out, and a long run holds tens of thousands.
        int last = snapshots[^1].Step;
        var lastStep = new List<MemorySnapshot>();
        for (int i = snapshots.Count - 1; i >= 0 && snapshots[i] is { } s && s.Step == last; i--)
        {
            lastStep.Insert(0, s);
        }

        // With gradient accumulation a phase repeats within the step: its last run stands.
        Phase[] phases = lastStep.Select(s => s.Phase).Distinct().ToArray();
        MemorySnapshot[] columns = [.. phases.Select(p => lastStep.Last(s => s.Phase == p))];
        // The unit goes in the title and category names never wrap: with "(MiB)" in every header the
        // table outgrew an 80-column terminal (or a log, which Spectre gives 80) and broke
        // "optimizer_state" over two lines.
        var table = new Table().Border(TableBorder.Rounded)
            // Counted as the progress lines count (from 1), with the record's own number (from 0).
            .Title($"MiB in each phase of the last step, {last + 1} (step {last} in the record)")
            .AddColumn(new TableColumn("category").NoWrap());
        foreach (Phase phase in phases)
        {
            table.AddColumn(new TableColumn(phase.Name).RightAligned().NoWrap());
        }

        static string Mib(long bytes) => (bytes / MiB).ToString("0.00", CultureInfo.InvariantCulture);
        // The categories held at the phase's end add up to the allocator's total (on the CPU); the
        // temporaries, gone by then, come after it, on the way to the phase's peak.
        foreach (MemoryCategory category in MemoryCategories.All.Where(c => c != MemoryCategory.Temporary))
        {
            table.AddRow([category.ToName(), .. columns.Select(c => Mib(c[category]))]);
        }

        table.AddRow(["[bold]allocator total[/]", .. columns.Select(c => Mib(c.AllocatorBytes))]);
        table.AddRow([MemoryCategory.Temporary.ToName(), .. columns.Select(c => Mib(c[MemoryCategory.Temporary]))]);
        table.AddRow(["[bold]peak in phase[/]", .. columns.Select(c => Mib(c.PeakBytes))]);
        AnsiConsole.Write(table);
    }

    private static T Parse<T>(string name, string value)
        where T : struct, Enum =>
        Enum.TryParse(value, ignoreCase: true, out T parsed) && Enum.IsDefined(parsed)
            ? parsed
            : throw new ArgumentException($"invalid {name} '{value}': expected {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}");
}
