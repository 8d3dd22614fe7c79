using System.Globalization;
using System.Text.Json;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary><c>gputel fit</c> as users run it: what it lists is what <c>gputel estimate</c> says fits, best first.</summary>
public sealed class FitCommandTests : IDisposable
{
    private const long GiB = 1L << 30;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static JsonDocument Fit(params string[] args)
    {
        (int exit, string output) = AgentProcess.Run(["fit", "--json", .. args]);
        Assert.True(exit == 0, output);
        return JsonDocument.Parse(output);
    }

    private static long EstimatedPeak(JsonElement c, string model, int gpus)
    {
        (int exit, string output) = AgentProcess.Run(["estimate", "--json", "--model", model, "--gpus", gpus.ToString(CultureInfo.InvariantCulture),
            "--method", c.GetProperty("method").GetString()!, "--batch-size", c.GetProperty("batch").GetString()!, "--cutoff-len", c.GetProperty("cutoff").GetString()!,
            "--zero-stage", c.GetProperty("zero").GetString()!, .. c.GetProperty("checkpointing").GetString() == "on" ? new[] { "--gradient-checkpointing" } : []]);
        Assert.True(exit == 0, output);
        using var doc = JsonDocument.Parse(output);
        return doc.RootElement.GetProperty("peak_bytes").GetInt64();
    }

    [Fact]
    public void Every_listed_configuration_fits_by_gputel_estimate_and_the_ranking_holds()
    {
        using JsonDocument fit = Fit("--gpu-memory", "80GiB", "--gpus", "8", "--model", "qwen2-7b", "--cutoff-len", "2048", "--top", "0");
        JsonElement root = fit.RootElement;
        JsonElement[] configs = [.. root.GetProperty("configurations").EnumerateArray()];

        Assert.Equal(80 * GiB, root.GetProperty("gpu_memory_bytes").GetInt64());
        Assert.Equal(76 * GiB, root.GetProperty("usable_bytes").GetInt64()); // 5% kept free
        Assert.Equal("padded_to_cutoff", root.GetProperty("sequence_lengths").GetProperty("assumption").GetString());
        Assert.NotEmpty(configs);
        Assert.Equal(configs.Length, root.GetProperty("worth_listing").GetInt32());
        foreach (JsonElement c in configs)
        {
            long peak = c.GetProperty("peak_bytes").GetInt64();
            Assert.True(peak <= 76 * GiB, c.ToString());
            Assert.Equal(80 * GiB - peak, c.GetProperty("margin_bytes").GetInt64());
        }

        // The first, the last and one from the middle, as gputel estimate estimates them.
        foreach (JsonElement c in new[] { configs[0], configs[configs.Length / 2], configs[^1] })
        {
            Assert.Equal(EstimatedPeak(c, "qwen2-7b", 8), c.GetProperty("peak_bytes").GetInt64());
        }

        for (int i = 1; i < configs.Length; i++)
        {
            JsonElement a = configs[i - 1], b = configs[i];
            Assert.Equal(i + 1, b.GetProperty("rank").GetInt32());
            int batchA = a.GetProperty("effective_batch").GetInt32(), batchB = b.GetProperty("effective_batch").GetInt32();
            Assert.True(batchA >= batchB, $"{a} before {b}");
            if (batchA == batchB)
            {
                double computeA = a.GetProperty("compute_factor").GetDouble(), computeB = b.GetProperty("compute_factor").GetDouble();
                Assert.True(computeA <= computeB, $"{a} before {b}");
            }
        }

        // The effective batch is the micro-batch on each of the 8 GPUs.
        Assert.All(configs, c => Assert.Equal(8 * int.Parse(c.GetProperty("batch").GetString()!, CultureInfo.InvariantCulture), c.GetProperty("effective_batch").GetInt32()));
    }

    [Fact]
    public void A_configuration_just_above_the_budget_is_not_listed()
    {
        using JsonDocument first = Fit("--gpu-memory", "80GiB", "--gpus", "8", "--model", "qwen2-7b", "--cutoff-len", "2048", "--methods", "lora", "--batch-sizes", "4", "--all-variants", "--top", "0");
        JsonElement[] configs = [.. first.RootElement.GetProperty("configurations").EnumerateArray()];
        Assert.NotEmpty(configs);
        // The one that needs the most of what fits: a budget of exactly its peak keeps it, one byte less does not.
        JsonElement largest = configs.MaxBy(c => c.GetProperty("peak_bytes").GetInt64());
        long peak = largest.GetProperty("peak_bytes").GetInt64();
        string Key(JsonElement c) => $"{c.GetProperty("checkpointing").GetString()}/{c.GetProperty("zero").GetString()}";

        using JsonDocument exact = Fit("--gpu-memory", $"{peak}B", "--margin", "0%", "--gpus", "8", "--model", "qwen2-7b", "--cutoff-len", "2048", "--methods", "lora", "--batch-sizes", "4", "--all-variants", "--top", "0");
        using JsonDocument below = Fit("--gpu-memory", $"{peak - 1}B", "--margin", "0%", "--gpus", "8", "--model", "qwen2-7b", "--cutoff-len", "2048", "--methods", "lora", "--batch-sizes", "4", "--all-variants", "--top", "0");

        Assert.Contains(Key(largest), exact.RootElement.GetProperty("configurations").EnumerateArray().Select(Key));
        Assert.DoesNotContain(Key(largest), below.RootElement.GetProperty("configurations").EnumerateArray().Select(Key));
        Assert.All(below.RootElement.GetProperty("configurations").EnumerateArray(), c => Assert.True(c.GetProperty("peak_bytes").GetInt64() < peak));
    }

    [Fact]
    public void The_table_lists_the_configurations_with_their_margin_and_speed_cost()
    {
        (int exit, string output) = AgentProcess.Run(["fit", "--gpu-memory", "81920MiB", "--gpus", "8", "--model", "qwen2-7b", "--cutoff-len", "2048"]);

        Assert.True(exit == 0, output);
        Assert.Contains("qwen2-7b on 8 GPUs of 80.00 GiB: a peak may reach 76.00 GiB (margin 5%)", output, StringComparison.Ordinal);
        Assert.Contains("assumes every sequence padded to the cutoff", output, StringComparison.Ordinal);
        foreach (string column in new[] { "method", "cutoff", "batch", "checkpointing", "zero", "eff. batch", "peak GiB", "margin GiB", "speed cost" })
        {
            Assert.Contains(column, output, StringComparison.Ordinal);
        }

        // Ranks 1, 2, ... in order, one row each.
        string[] rows = [.. output.Split('\n').Where(l => l.StartsWith("│ ", StringComparison.Ordinal) && char.IsAsciiDigit(l.TrimStart('│', ' ')[0]))];
        Assert.NotEmpty(rows);
        Assert.Equal(Enumerable.Range(1, rows.Length), rows.Select(r => int.Parse(r.Split('│')[1], CultureInfo.InvariantCulture)));
    }

    [Theory]
    [InlineData("80GiB")]
    [InlineData("81920MiB")]
    [InlineData("85899345920B")]
    public void Binary_sizes_of_the_same_memory_give_the_same_answer(string size)
    {
        using JsonDocument fit = Fit("--gpu-memory", size, "--model", "qwen2-1.5b", "--cutoff-len", "1024");

        Assert.Equal(80 * GiB, fit.RootElement.GetProperty("gpu_memory_bytes").GetInt64());
    }

    [Fact]
    public void Gigabytes_are_decimal()
    {
        using JsonDocument fit = Fit("--gpu-memory", "80GB", "--model", "qwen2-1.5b", "--cutoff-len", "1024");

        Assert.Equal(80_000_000_000L, fit.RootElement.GetProperty("gpu_memory_bytes").GetInt64());
    }

    [Theory]
    [InlineData("--gpu-memory", "80", "invalid gpu-memory '80': expected a size such as 80GiB, 81920MiB or 80GB")]
    [InlineData("--gpu-memory", "eighty", "invalid gpu-memory 'eighty'")]
    [InlineData("--gpu-memory", "80XB", "invalid gpu-memory '80XB'")]
    [InlineData("--gpu-memory", "0GiB", "invalid gpu-memory '0GiB'")]
    [InlineData("--margin", "lots", "invalid margin 'lots'")]
    [InlineData("--margin", "100%", "invalid margin '100%'")]
    [InlineData("--gpus", "0", "invalid gpus '0': must be a positive number")]
    [InlineData("--methods", "full,qlora", "invalid methods 'qlora': expected full, freeze or lora")]
    [InlineData("--batch-sizes", "1,x", "invalid batch-sizes 'x'")]
    [InlineData("--cutoff-len", "1", "invalid cutoff-len '1'")]
    public void Bad_input_exits_2_with_one_line(string option, string value, string message)
    {
        string[] args = ["fit", "--gpu-memory", "80GiB", "--model", "qwen2-1.5b"];
        int at = Array.IndexOf(args, option);
        if (at >= 0)
        {
            args[at + 1] = value;
        }
        else
        {
            args = [.. args, option, value];
        }

        (int exit, string output) = AgentProcess.Run(args);

        Assert.True(exit == 2, output);
        Assert.Contains($"gputel fit: {message}", output, StringComparison.Ordinal);
        Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void With_data_the_longest_batch_must_fit_and_the_typical_is_shown()
    {
        // The tiny model with a tokenizer whose counts are known: answers of 2n "a"s are n tokens,
        // each example 34 prompt + n + 1 end tokens, n = 1..50 (36 to 85 tokens).
        string model = System.IO.Path.Combine(_dir.Path, "model");
        ByteLevelTokenizerFile.Write(model);
        File.WriteAllText(System.IO.Path.Combine(model, "config.json"), """
            {"architectures": ["LlamaForCausalLM"], "vocab_size": 512, "hidden_size": 64, "intermediate_size": 176,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096}
            """);
        string data = _dir.File("data.jsonl", string.Join('\n', Enumerable.Range(1, 50).Select(n => JsonSerializer.Serialize(new { instruction = "q", output = new string('a', 2 * n) }))));

        using JsonDocument fit = Fit("--gpu-memory", "1GiB", "--model", model, "--data", data, "--methods", "lora", "--batch-sizes", "1,8");
        JsonElement root = fit.RootElement;
        JsonElement lengths = root.GetProperty("sequence_lengths");
        JsonElement[] configs = [.. root.GetProperty("configurations").EnumerateArray()];

        Assert.Equal("padded_to_longest_in_batch", lengths.GetProperty("assumption").GetString());
        Assert.Equal(36, lengths.GetProperty("min").GetInt32());
        Assert.Equal(85, lengths.GetProperty("max").GetInt32());
        // Every cutoff tried is above 85, so one stands for all (the shortest), batches 8 then 1.
        Assert.Equal(["512", "512"], configs.Select(c => c.GetProperty("cutoff").GetString()));
        Assert.Equal(["8", "1"], configs.Select(c => c.GetProperty("batch").GetString()));
        Assert.All(configs, c => Assert.Equal(85, c.GetProperty("batch_length").GetInt32()));
        // One sequence a batch: the median example (60 tokens); eight: the 92nd-percentile one.
        Assert.Equal(60, configs[1].GetProperty("typical_length").GetInt32());
        Assert.Equal(34 + 46 + 1, configs[0].GetProperty("typical_length").GetInt32());
        Assert.All(configs, c => Assert.True(c.GetProperty("typical_peak_bytes").GetInt64() < c.GetProperty("peak_bytes").GetInt64()));
    }
}
