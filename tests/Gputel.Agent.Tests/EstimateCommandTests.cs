using System.Text.Json;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary><c>gputel estimate</c> as users run it: what it refuses, and what it compares with what.</summary>
public sealed class EstimateCommandTests
{
    [Theory]
    [InlineData("lora", "-8")]
    [InlineData("lora", "0")]
    [InlineData("full", "-8")]
    public void A_lora_rank_below_one_exits_2_and_names_it(string method, string rank)
    {
        (int exit, string output) = AgentProcess.Run(["estimate", "--method", method, "--lora-rank", rank]);

        Assert.True(exit == 2, output);
        Assert.Contains($"gputel estimate: invalid lora-rank '{rank}': must be a positive number", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--lora-dropout", "1.5", "invalid lora-dropout '1.5': must be at least 0 and below 1")]
    [InlineData("--lora-dropout", "-0.1", "invalid lora-dropout '-0.1': must be at least 0 and below 1")]
    [InlineData("--gradient-accumulation", "0", "invalid gradient-accumulation '0': must be a positive number")]
    [InlineData("--batch-size", "0", "invalid batch-size '0': must be a positive number")]
    [InlineData("--cutoff-len", "1", "invalid cutoff-len '1': must be at least 2")]
    // As gputel finetune: a freeze run trains at least its last layer, and at most all of them.
    [InlineData("--trainable-layers", "0", "invalid trainable-layers '0': must be a positive number", "freeze")]
    [InlineData("--trainable-layers", "29", "invalid trainable-layers '29': the model has 28 layers", "freeze")]
    public void A_setting_out_of_range_exits_2_and_names_it(string option, string value, string message, string method = "lora")
    {
        (int exit, string output) = AgentProcess.Run(["estimate", "--no-probe", "--method", method, option, value]);

        Assert.True(exit == 2, output);
        Assert.Contains($"gputel estimate: {message}", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Lora_dropout_raises_the_estimate_by_the_adapters_dropped_inputs()
    {
        (int exit, string plain) = AgentProcess.Run(["estimate", "--model", "qwen2-1.5b", "--json"]);
        Assert.True(exit == 0, plain);
        (exit, string dropped) = AgentProcess.Run(["estimate", "--model", "qwen2-1.5b", "--json", "--lora-dropout", "0.1"]);
        Assert.True(exit == 0, dropped);

        // On a GPU each of the 7 adapters per layer keeps its bf16 dropped input, and a one-byte mask
        // where its input has gradients: everywhere but the first layer's q/k/v, whose input comes
        // from the frozen embedding (from the q/k/v adapters on, everything after has gradients).
        // Per token and layer, h = 1536, q = 1536, i = 8960: 5 x 1536 + 1536 + 8960 inputs; 1024
        // tokens, 28 layers.
        long perToken = (5 * 1536 + 1536 + 8960) * 2L;
        long masks = (27 * (3 * 1536) + 28 * (1536 + 2 * 1536 + 8960)) * 1024L;
        long shared = 28 * (2 * 1536 + 8960) * 2 * 1024L; // the inputs no longer kept, one per group
        Assert.Equal(Activations(plain) + 28 * perToken * 1024 + masks - shared, Activations(dropped));

        static long Activations(string json)
        {
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            return doc.RootElement.GetProperty("categories").EnumerateArray().Single(c => c.GetProperty("category").GetString() == "activations").GetProperty("bytes").GetInt64();
        }
    }

    [Fact]
    public void Across_gpus_the_usual_tables_figure_is_compared_per_gpu()
    {
        (int exit, string output) = AgentProcess.Run(["estimate", "--model", "qwen2-7b", "--method", "full", "--gpus", "8", "--zero-stage", "3"]);

        Assert.True(exit == 0, output);
        // 18 B x 7.6 B parameters is 127.67 GiB for the whole model; ZeRO-3 leaves an eighth on each GPU.
        string text = string.Join(' ', output.Split('\n', StringSplitOptions.TrimEntries));
        Assert.Contains("the usual table (model state only) says 15.96 GiB per GPU, its model state sharded as ZeRO-3 shards it over 8 GPUs", text, StringComparison.Ordinal);
        Assert.DoesNotContain("127.67", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_says_which_configuration_it_estimates()
    {
        (int exit, string output) = AgentProcess.Run(["estimate", "--model", "qwen2-1.5b", "--method", "freeze", "--trainable-layers", "3", "--dtype", "fp32",
            "--batch-size", "4", "--cutoff-len", "512", "--gradient-checkpointing", "--gpus", "2", "--zero-stage", "1", "--json"]);

        Assert.True(exit == 0, output);
        using JsonDocument doc = JsonDocument.Parse(output);
        JsonElement c = doc.RootElement.GetProperty("configuration");
        Assert.Equal(
            ("fp32", "adamw", 4, 512, true, 2, 1, "cuda", 3),
            (c.GetProperty("dtype").GetString(), c.GetProperty("optimizer").GetString(), c.GetProperty("batch_size").GetInt32(), c.GetProperty("cutoff_length").GetInt32(),
                c.GetProperty("gradient_checkpointing").GetBoolean(), c.GetProperty("gpus").GetInt32(), c.GetProperty("zero_stage").GetInt32(), c.GetProperty("device").GetString(),
                c.GetProperty("trainable_layers").GetInt32()));
        Assert.False(c.TryGetProperty("lora_rank", out _));
    }

    [Theory]
    [InlineData("full", "bf16", true)]
    [InlineData("full", "fp32", false)]
    [InlineData("lora", "bf16", false)]
    public void A_pure_bf16_full_estimate_says_the_usual_table_counts_mixed_precision(string method, string dtype, bool noted)
    {
        (int exit, string output) = AgentProcess.Run(["estimate", "--model", "qwen2-7b", "--method", method, "--dtype", dtype]);

        Assert.True(exit == 0, output);
        // Below the table's 18 B per parameter only because everything is bf16: said, so nobody
        // takes it for a mixed-precision run's need.
        Assert.Equal(noted, output.Contains("note: that table counts mixed precision", StringComparison.Ordinal));
    }

    private static string Config(string name) => Path.Combine(Repo.Root, "tests", "Gputel.Core.Tests", "Configs", name);

    [Fact]
    public void A_checkpoint_saved_quantized_is_estimated_quantized_and_says_so()
    {
        (int exit, string output) = AgentProcess.Run(["estimate", "--model", Config("qwen2.5-7b-bnb-4bit.json"), "--dtype", "bf16-mixed", "--json"]);

        Assert.True(exit == 0, output);
        Assert.Contains("quantization from", output, StringComparison.Ordinal);
        Assert.Contains("bitsandbytes 4-bit nf4, double quantization", output, StringComparison.Ordinal);
        using JsonDocument doc = JsonDocument.Parse(output[output.IndexOf('{', StringComparison.Ordinal)..]);
        Assert.Equal("4bit", doc.RootElement.GetProperty("configuration").GetProperty("quantization").GetString());
    }

    [Theory]
    [InlineData("qwen2.5-7b-bnb-4bit.json", "8bit", "--quantization 8bit contradicts")]
    [InlineData("qwen2.5-7b-gptq-int4.json", null, "quant_method 'gptq' is not modelled")]
    [InlineData("qwen3-30b-a3b.json", null, "mixture-of-experts models")]
    public void Quantization_and_architectures_it_does_not_model_are_refused_in_one_line(string config, string? quantization, string message)
    {
        List<string> args = ["estimate", "--model", Config(config)];
        if (quantization is not null)
        {
            args.AddRange(["--quantization", quantization]);
        }

        (int exit, string output) = AgentProcess.Run(args);

        Assert.True(exit == 2, output);
        Assert.Contains(message, output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Finetune_refuses_an_architecture_it_cannot_build()
    {
        using var dir = new TempDirectory();
        (int exit, string output) = AgentProcess.Run(["finetune", "--model", Config("qwen3-8b.json"), "--steps", "1", "--out", Path.Combine(dir.Path, "run")]);

        Assert.True(exit == 2, output);
        Assert.Contains("is a Qwen3 model (its query/key norms), which finetune cannot build", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "run")), "nothing is recorded for a run that cannot start");
    }

    [Fact]
    public void Docs_estimates_is_what_the_table_command_writes()
    {
        // docs/ESTIMATES.md says it is generated: a change to the estimator must regenerate it.
        string committed = File.ReadAllText(Path.Combine(Repo.Root, "docs", "ESTIMATES.md"));

        Assert.True(committed == Gputel.Agent.Commands.EstimateCommand.CommonTable(), "docs/ESTIMATES.md is stale: run gputel estimate --table docs/ESTIMATES.md");
    }
}
