using System.Text.Json;
using Gputel.Core.Data;
using Gputel.Tests.Support;

namespace Gputel.Core.Tests.Data;

/// <summary>Datasets in the formats LLaMA-Factory reads, tokenized with a tokenizer whose counts are known.</summary>
public sealed class SequenceLengthsTests : IDisposable
{
    // "### Instruction:\nq\n\n### Response:\n": 34 bytes, none of them a pair of "a"s.
    private const int PromptOfQ = 34;

    private readonly string _dir = Directory.CreateTempSubdirectory("gputel-lengths-").FullName;
    private readonly ITextTokenizer _tokenizer;

    public SequenceLengthsTests()
    {
        ByteLevelTokenizerFile.Write(_dir);
        _tokenizer = HuggingFaceTokenizer.ForCheckpoint(_dir);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File_(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private SequenceLengths Measure(string path)
    {
        using TrainingDataset dataset = TrainingDataset.Open(path);
        return SequenceLengths.Measure(dataset, _tokenizer);
    }

    private static string Line(object o) => JsonSerializer.Serialize(o);

    [Fact]
    public void The_tokenizer_counts_what_the_tests_rely_on()
    {
        Assert.Equal(PromptOfQ, _tokenizer.CountTokens(new AlpacaExample("q", string.Empty, string.Empty).Prompt));
        Assert.Equal(3, _tokenizer.CountTokens("aaaaaa"));
        Assert.Equal(4, _tokenizer.CountTokens("aaaaaaa"));
        Assert.Equal(_tokenizer.Encode("aa b\nc").Count, _tokenizer.CountTokens("aa b\nc"));
    }

    [Fact]
    public void Alpaca_jsonl_gives_the_distribution_of_prompt_answer_and_end_token()
    {
        // Answers of 2n "a"s are n tokens: lengths 34 + n + 1 for n = 1..100.
        string path = File_("alpaca.jsonl", string.Join('\n', Enumerable.Range(1, 100).Select(n => Line(new { instruction = "q", input = "", output = new string('a', 2 * n) }))) + "\n\n");

        SequenceLengths lengths = Measure(path);

        Assert.Equal(100, lengths.Count);
        Assert.Equal(0, lengths.Skipped);
        Assert.Equal(PromptOfQ + 2, lengths.Min);
        Assert.Equal(PromptOfQ + 101, lengths.Max);
        Assert.Equal(PromptOfQ + 51, lengths.Percentile(0.5));
        Assert.Equal(PromptOfQ + 91, lengths.Percentile(0.9));
        Assert.Equal(PromptOfQ + 100, lengths.Percentile(0.99));
        Assert.Equal(PromptOfQ + 51.5, lengths.Mean, 6);
        // 35 + n > 100 for n = 66..100.
        Assert.Equal(35, lengths.CountLongerThan(100));
        Assert.Equal(0.35, lengths.ShareLongerThan(100), 6);
        Assert.Equal(0, lengths.CountLongerThan(PromptOfQ + 101));
        Assert.Equal(100, lengths.CountLongerThan(PromptOfQ + 1));
    }

    [Fact]
    public void A_batch_is_padded_to_its_longest_sequence_cut_to_the_cutoff()
    {
        var lengths = new SequenceLengths(Enumerable.Range(1, 100));

        Assert.Equal(100, lengths.LongestBatchLength(1024));
        Assert.Equal(64, lengths.LongestBatchLength(64));
        // One sequence a batch: the median. Eight: the longest of eight is below the
        // 0.5^(1/8) = 91.7% point half the time, so the 92nd length.
        Assert.Equal(50, lengths.TypicalBatchLength(1, 1024));
        Assert.Equal(92, lengths.TypicalBatchLength(8, 1024));
        Assert.Equal(80, lengths.TypicalBatchLength(8, 80));
        Assert.True(lengths.TypicalBatchLength(64, 1024) >= lengths.TypicalBatchLength(8, 1024));
    }

    [Fact]
    public void ShareGPT_and_OpenAI_conversations_count_every_turn()
    {
        // A JSON array as LLaMA-Factory's demo files are: two turns (each prompt, answer and end
        // token) after a system prompt "### System:\ns\n\n" (15 bytes); the same in OpenAI's
        // messages; and a single turn equal to the Alpaca example.
        object[] examples =
        [
            new { conversations = new object[] { new { from = "human", value = "q" }, new { from = "gpt", value = "aaaa" }, new { from = "human", value = "q" }, new { from = "gpt", value = "aa" } }, system = "s" },
            new { messages = new object[] { new { role = "system", content = "s" }, new { role = "user", content = "q" }, new { role = "assistant", content = "aaaa" }, new { role = "user", content = "q" }, new { role = "assistant", content = new object[] { new { type = "text", text = "aa" } } } } },
            new { messages = new object[] { new { role = "user", content = "q" }, new { role = "assistant", content = "aaaaaa" } } },
            new { instruction = "q", output = "aaaaaa", history = new[] { new[] { "q", "aaaa" } } },
        ];
        string path = File_("chat.json", JsonSerializer.Serialize(examples, new JsonSerializerOptions { WriteIndented = true }));

        SequenceLengths lengths = Measure(path);

        int twoTurns = 15 + (PromptOfQ + 2 + 1) + (PromptOfQ + 1 + 1);
        int oneTurn = PromptOfQ + 3 + 1;
        int withHistory = (PromptOfQ + 2 + 1) + oneTurn;
        Assert.Equal(4, lengths.Count);
        Assert.Equal(oneTurn, lengths.Min);
        Assert.Equal(twoTurns, lengths.Max);
        Assert.Equal(withHistory, lengths.Percentile(0.5));
        Assert.Equal((2 * twoTurns + oneTurn + withHistory) / 4.0, lengths.Mean, 6);
    }

    [Fact]
    public void Conversations_that_would_not_train_are_skipped_and_counted()
    {
        string path = File_("odd.jsonl", string.Join('\n',
            Line(new { conversations = new object[] { new { from = "human", value = "q" }, new { from = "gpt", value = "aa" } } }),
            Line(new { conversations = new object[] { new { from = "human", value = "q" } } }),
            Line(new { conversations = new object[] { new { from = "gpt", value = "aa" }, new { from = "human", value = "q" } } })));

        SequenceLengths lengths = Measure(path);

        Assert.Equal(1, lengths.Count);
        Assert.Equal(2, lengths.Skipped);
        Assert.Equal(PromptOfQ + 2, lengths.Max);
    }

    [Theory]
    [InlineData("{\"instruction\": \"q\", \"output\": \"a\"}\n{\"instruction\": \"q\", \"output\": ", "line 2: not valid JSON")]
    [InlineData("{\"instruction\": \"q\"}", "line 1: missing \"output\"")]
    [InlineData("{\"instruction\": \"q\", \"output\": 3}", "line 1: \"output\" must be a string, not number")]
    [InlineData("{\"text\": \"q\"}", "line 1: not an example of a known format")]
    [InlineData("{\"messages\": [{\"role\": \"pirate\", \"content\": \"q\"}]}", "line 1, message 1: unknown role \"pirate\"")]
    [InlineData("[{\"instruction\": \"q\", \"output\": \"a\"}, 7]", "example 2: expected a JSON object, not number")]
    [InlineData("[{\"instruction\": \"q\", \"output\": \"a\"}, {\"instruction\": ", "after example 1: not valid JSON")]
    [InlineData("hello", "not a dataset")]
    [InlineData("  \n", "no examples (the file is empty)")]
    public void A_malformed_file_is_refused_with_where_and_what(string text, string message)
    {
        string path = File_("bad.jsonl", text);

        var e = Assert.Throws<InvalidDataException>(() => Measure(path));

        Assert.StartsWith(path, e.Message, StringComparison.Ordinal);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_missing_file_is_refused()
    {
        var e = Assert.Throws<InvalidDataException>(() => TrainingDataset.Open(Path.Combine(_dir, "none.jsonl")));

        Assert.EndsWith("none.jsonl: no such dataset file", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Progress_is_reported_while_reading()
    {
        string path = File_("p.jsonl", string.Join('\n', Enumerable.Range(1, 5).Select(_ => Line(new { instruction = "q", output = "aa" }))));
        var reports = new List<DatasetProgress>();

        using (TrainingDataset dataset = TrainingDataset.Open(path))
        {
            SequenceLengths.Measure(dataset, _tokenizer, reports.Add, TimeSpan.Zero);
        }

        Assert.Equal([1L, 2, 3, 4, 5], reports.Select(r => r.Examples));
        Assert.All(reports, r => Assert.Equal(new FileInfo(path).Length, r.TotalBytes));
        Assert.All(reports, r => Assert.InRange(r.BytesRead, 1, r.TotalBytes));
    }
}
