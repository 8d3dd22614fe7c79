using System.Text.Json;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary><c>gputel estimate --data</c>: a dataset's lengths instead of every sequence padded to the cutoff.</summary>
public sealed class EstimateDataTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _model;
    private readonly string _data;

    public EstimateDataTests()
    {
        // The tiny model with a tokenizer whose counts are known: answers of 2n "a"s are n tokens,
        // each example 34 prompt + n + 1 end tokens; n = 1..200 gives 36 to 235 tokens.
        _model = Path.Combine(_dir.Path, "model");
        ByteLevelTokenizerFile.Write(_model);
        File.WriteAllText(Path.Combine(_model, "config.json"), """
            {"architectures": ["LlamaForCausalLM"], "vocab_size": 512, "hidden_size": 64, "intermediate_size": 176,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096}
            """);
        _data = _dir.File("data.jsonl", string.Join('\n', Enumerable.Range(1, 200).Select(n => JsonSerializer.Serialize(new { instruction = "q", input = "", output = new string('a', 2 * n) }))));
    }

    public void Dispose() => _dir.Dispose();

    private static long Peak(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("peak_bytes").GetInt64();
    }

    [Fact]
    public void Json_gives_the_distribution_and_estimates_the_longest_batch_padded_to_its_longest_sequence()
    {
        (int exit, string output) = AgentProcess.Run(["estimate", "--model", _model, "--data", _data, "--cutoff-len", "200", "--batch-size", "4", "--json"]);
        Assert.True(exit == 0, output);
        using var doc = JsonDocument.Parse(output);
        JsonElement lengths = doc.RootElement.GetProperty("sequence_lengths");

        Assert.Equal("padded_to_longest_in_batch", lengths.GetProperty("assumption").GetString());
        Assert.Equal(200, lengths.GetProperty("examples").GetInt32());
        Assert.Equal(36, lengths.GetProperty("min").GetInt32());
        Assert.Equal(135, lengths.GetProperty("p50").GetInt32());
        Assert.Equal(215, lengths.GetProperty("p90").GetInt32());
        Assert.Equal(233, lengths.GetProperty("p99").GetInt32());
        Assert.Equal(235, lengths.GetProperty("max").GetInt32());
        Assert.Equal(200, lengths.GetProperty("cutoff_length").GetInt32());
        // 35 + n > 200 for n = 166..200.
        Assert.Equal(35, lengths.GetProperty("cut_examples").GetInt32());
        Assert.Equal(0.175, lengths.GetProperty("cut_share").GetDouble(), 6);

        // The longest batch is cut to the cutoff; a typical batch of 4 is padded to the longest of 4
        // random examples, the 0.5^(1/4) = 84.1% point: the 169th length, 204, cut to 200 too.
        JsonElement longest = lengths.GetProperty("longest_batch"), typical = lengths.GetProperty("typical_batch");
        Assert.Equal(200, longest.GetProperty("length").GetInt32());
        Assert.Equal(200, typical.GetProperty("length").GetInt32());
        (exit, string reference) = AgentProcess.Run(["estimate", "--model", _model, "--cutoff-len", "200", "--batch-size", "4", "--json"]);
        Assert.True(exit == 0, reference);
        Assert.Equal(Peak(reference), longest.GetProperty("peak_bytes").GetInt64());
        Assert.Equal(Peak(reference), Peak(output));
    }

    [Fact]
    public void Batches_shorter_than_the_cutoff_are_estimated_at_their_own_length()
    {
        (int exit, string output) = AgentProcess.Run(["estimate", "--model", _model, "--data", _data, "--cutoff-len", "1024", "--json"]);
        Assert.True(exit == 0, output);
        using var doc = JsonDocument.Parse(output);
        JsonElement lengths = doc.RootElement.GetProperty("sequence_lengths");

        Assert.Equal(0, lengths.GetProperty("cut_examples").GetInt32());
        Assert.Equal(235, lengths.GetProperty("longest_batch").GetProperty("length").GetInt32());
        Assert.Equal(135, lengths.GetProperty("typical_batch").GetProperty("length").GetInt32());
        (exit, string at235) = AgentProcess.Run(["estimate", "--model", _model, "--cutoff-len", "235", "--json"]);
        Assert.True(exit == 0, at235);
        (exit, string at135) = AgentProcess.Run(["estimate", "--model", _model, "--cutoff-len", "135", "--json"]);
        Assert.True(exit == 0, at135);
        (exit, string at1024) = AgentProcess.Run(["estimate", "--model", _model, "--cutoff-len", "1024", "--json"]);
        Assert.True(exit == 0, at1024);
        Assert.Equal(Peak(at235), Peak(output));
        Assert.Equal(Peak(at135), lengths.GetProperty("typical_batch").GetProperty("peak_bytes").GetInt64());
        Assert.True(Peak(output) < Peak(at1024));
    }

    [Fact]
    public void The_table_shows_the_distribution_and_both_batches()
    {
        (int exit, string output) = AgentProcess.Run(["estimate", "--model", _model, "--data", _data, "--cutoff-len", "200"]);

        Assert.True(exit == 0, output);
        Assert.Contains("tokens per example", output, StringComparison.Ordinal);
        Assert.Matches(@"│\s+200 │\s+36 │\s+135 │\s+215 │\s+233 │\s+235 │\s+135\.5 │\s+35 \(17\.5%\) │", output);
        Assert.Contains("longest batch: 1 x 200 tokens", output, StringComparison.Ordinal);
        Assert.Contains("typical batch (median of the longest of 1 random examples): 1 x 135 tokens", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_data_the_assumption_is_stated()
    {
        (int exit, string table) = AgentProcess.Run(["estimate", "--model", "qwen2-1.5b", "--cutoff-len", "512"]);
        Assert.True(exit == 0, table);
        (exit, string json) = AgentProcess.Run(["estimate", "--model", "qwen2-1.5b", "--cutoff-len", "512", "--json"]);
        Assert.True(exit == 0, json);

        Assert.Contains("assumes every sequence padded to --cutoff-len (512 tokens)", string.Join(' ', table.Split('\n', StringSplitOptions.TrimEntries)), StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(json);
        JsonElement lengths = doc.RootElement.GetProperty("sequence_lengths");
        Assert.Equal("padded_to_cutoff", lengths.GetProperty("assumption").GetString());
        Assert.Equal(512, lengths.GetProperty("cutoff_length").GetInt32());
    }

    [Theory]
    [InlineData("missing-data", "no such dataset file")]
    [InlineData("bad-data", "bad.jsonl, line 2: not valid JSON")]
    [InlineData("built-in", "--data needs the model's tokenizer: 'qwen2-1.5b' is a built-in shape")]
    [InlineData("no-tokenizer", "no tokenizer for --data (tokenizer.json, or vocab.json and merges.txt)")]
    public void Bad_input_exits_2_with_one_line(string what, string message)
    {
        string bare = Path.Combine(_dir.Path, "bare");
        Directory.CreateDirectory(bare);
        File.Copy(Path.Combine(_model, "config.json"), Path.Combine(bare, "config.json"));
        string bad = _dir.File("bad.jsonl", "{\"instruction\": \"q\", \"output\": \"a\"}\n{\"instruction\": ");
        string[] args = what switch
        {
            "missing-data" => ["--model", _model, "--data", Path.Combine(_dir.Path, "none.jsonl")],
            "bad-data" => ["--model", _model, "--data", bad],
            "built-in" => ["--model", "qwen2-1.5b", "--data", _data],
            _ => ["--model", bare, "--data", _data],
        };

        (int exit, string output) = AgentProcess.Run(["estimate", .. args]);

        Assert.True(exit == 2, output);
        Assert.Contains(message, output, StringComparison.Ordinal);
        Assert.StartsWith("gputel estimate: ", output, StringComparison.Ordinal);
        Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
