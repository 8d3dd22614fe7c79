using Gputel.Core.Data;
using Gputel.Profiler.Data;

namespace Gputel.Profiler.Tests.Data;

public sealed class DataTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gputel-data-").FullName;

    private string File(string text)
    {
        string path = Path.Combine(_dir, "data.jsonl");
        System.IO.File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Reads_alpaca_jsonl_with_and_without_input()
    {
        var examples = AlpacaJsonl.Read(File(
            "{\"instruction\":\"Add\",\"input\":\"2 and 3\",\"output\":\"5\"}\n\n{\"instruction\":\"Greet\",\"output\":\"Hello\"}\n"));

        Assert.Equal(2, examples.Count);
        Assert.Contains("### Input:\n2 and 3", examples[0].Prompt, StringComparison.Ordinal);
        Assert.DoesNotContain("### Input", examples[1].Prompt, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"instruction\":\"a\",\"output\":\"b\"}\n{\"instruction\":\"a\"\n", "line 2: not valid JSON")]
    [InlineData("{\"instruction\":\"a\"}\n", "line 1: missing \"output\"")]
    [InlineData("{\"instruction\":\"a\",\"output\":5}\n", "line 1: \"output\" must be a string, not number")]
    [InlineData("[1,2]\n", "line 1: expected a JSON object")]
    [InlineData("\n\n", "no examples")]
    public void Bad_jsonl_names_the_line_and_the_problem(string text, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => AlpacaJsonl.Read(File(text)));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Batches_mask_the_prompt_and_padding_and_respect_the_cutoff()
    {
        var examples = new[] { new AlpacaExample("x", "", "ab"), new AlpacaExample("longer instruction", "", "c") };
        var tokenizer = new ByteTokenizer();
        (var ids, var labels) = TrainingBatches.FromExamples(examples, tokenizer, cutoffLength: 64);
        using (ids)
        using (labels)
        {
            int promptLength = tokenizer.Encode(examples[0].Prompt).Count;
            long[] row0 = labels[0].data<long>().ToArray();
            Assert.All(row0.Take(promptLength), l => Assert.Equal(TrainingBatches.IgnoreIndex, l));
            Assert.Equal([(long)'a' + 2, (long)'b' + 2, ByteTokenizer.EndOfText], row0.Skip(promptLength).Take(3));
            Assert.Equal(TrainingBatches.IgnoreIndex, row0[^1]); // padding
            Assert.Equal(ids.shape[1], labels.shape[1]);
        }

        (var cut, var cutLabels) = TrainingBatches.FromExamples(examples, tokenizer, cutoffLength: 16);
        Assert.Equal(16, cut.shape[1]);
        cut.Dispose();
        cutLabels.Dispose();
    }

    [Fact]
    public void A_prompt_that_fills_the_cutoff_still_leaves_answer_tokens_to_learn()
    {
        // 40 prompt tokens and more against a cutoff of 16: cut prompt-first, nothing of the answer
        // was left, every label ignored, and the loss NaN.
        var examples = new[] { new AlpacaExample(new string('p', 40), "", "answer") };
        var tokenizer = new ByteTokenizer();
        (var ids, var labels) = TrainingBatches.FromExamples(examples, tokenizer, cutoffLength: 16);
        using (ids)
        using (labels)
        {
            Assert.Equal(16, ids.shape[1]);
            long[] row = labels[0].data<long>().ToArray();
            // The answer's 7 tokens (6 bytes and the end of text) take under half the cutoff: all kept.
            Assert.Equal([.. "answer".Select(c => (long)c + 2), ByteTokenizer.EndOfText], row.Where(l => l != TrainingBatches.IgnoreIndex));
            Assert.Equal(ByteTokenizer.EndOfText, row[^1]);
        }

        // A long answer behind a long prompt: each keeps its share, the answer at least one token.
        Assert.Equal((8, 8), TrainingBatches.Split(100, 100, 16));
        Assert.Equal((15, 1), TrainingBatches.Split(1000, 1, 16));
        Assert.Equal((3, 13), TrainingBatches.Split(3, 100, 16));
        Assert.Equal((5, 7), TrainingBatches.Split(5, 7, 16));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
