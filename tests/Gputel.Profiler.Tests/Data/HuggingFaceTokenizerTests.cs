using System.Text.Json;
using Gputel.Core.Data;
using Gputel.Profiler.Data;

namespace Gputel.Profiler.Tests.Data;

public sealed class HuggingFaceTokenizerTests : IDisposable
{
    // A tiny byte-level BPE vocabulary ("Ġ" is the byte-level form of a space).
    private static readonly Dictionary<string, int> Vocab = new()
    {
        ["h"] = 0,
        ["e"] = 1,
        ["l"] = 2,
        ["o"] = 3,
        ["Ġ"] = 4,
        ["w"] = 5,
        ["r"] = 6,
        ["d"] = 7,
        ["he"] = 8,
        ["ll"] = 9,
        ["hell"] = 10,
        ["hello"] = 11,
        ["Ġw"] = 12,
        ["or"] = 13,
        ["Ġwor"] = 14,
    };

    private static readonly string[] Merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or"];

    // "hello" merges all the way; " world" becomes "Ġwor" + "l" + "d".
    private static readonly int[] HelloWorld = [11, 14, 2, 7];

    private readonly string _dir = Directory.CreateTempSubdirectory("gputel-tok-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Write(string name, string text) => File.WriteAllText(Path.Combine(_dir, name), text);

    private void WriteVocabAndMerges(bool withEndOfText = true)
    {
        var vocab = new Dictionary<string, int>(Vocab);
        if (withEndOfText)
        {
            vocab["<|endoftext|>"] = 15;
        }

        Write("vocab.json", JsonSerializer.Serialize(vocab));
        Write("merges.txt", "#version: 0.2\n" + string.Join('\n', Merges) + "\n");
    }

    private void WriteTokenizerJson(bool mergesAsPairs, string? pattern)
    {
        object preTokenizer = pattern is null
            ? new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = true }
            : new
            {
                type = "Sequence",
                pretokenizers = new object[]
                {
                    new { type = "Split", pattern = new { Regex = pattern }, behavior = "Isolated", invert = false },
                    new { type = "ByteLevel", add_prefix_space = false, trim_offsets = false, use_regex = false },
                },
            };
        var json = new
        {
            version = "1.0",
            added_tokens = new object[]
            {
                new { id = 15, content = "<|endoftext|>", special = true },
                new { id = 16, content = "<|im_start|>", special = true },
                new { id = 17, content = "<|im_end|>", special = true },
            },
            normalizer = new { type = "NFC" },
            pre_tokenizer = preTokenizer,
            decoder = new { type = "ByteLevel" },
            model = new
            {
                type = "BPE",
                vocab = Vocab,
                merges = mergesAsPairs ? Merges.Select(m => (object)m.Split(' ')).ToArray() : Merges.Cast<object>().ToArray(),
            },
        };
        Write("tokenizer.json", JsonSerializer.Serialize(json));
    }

    [Fact]
    public void Vocab_and_merges_encode_as_the_merges_imply()
    {
        WriteVocabAndMerges();

        var tokenizer = Assert.IsType<HuggingFaceTokenizer>(HuggingFaceTokenizer.ForCheckpoint(_dir));

        Assert.Equal(HelloWorld, tokenizer.Encode("hello world"));
        Assert.Equal([8, 2, 3], tokenizer.Encode("helo")); // h+e merge, then no merge has "he l" or "l o"
        Assert.Equal([11, 15], tokenizer.Encode("hello<|endoftext|>")); // special token matched whole
        Assert.Empty(tokenizer.Encode(""));
        Assert.Equal("hello world", tokenizer.Decode(HelloWorld));
        Assert.Equal(16, tokenizer.VocabularySize);
        Assert.Equal(15, tokenizer.EndId);
        Assert.Equal(15, tokenizer.PadId);
        Assert.EndsWith("vocab.json", tokenizer.Source, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, null)]
    [InlineData(true, null)]
    [InlineData(false, @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")]
    public void Tokenizer_json_encodes_as_the_merges_imply(bool mergesAsPairs, string? qwen2Pattern)
    {
        WriteTokenizerJson(mergesAsPairs, qwen2Pattern);
        WriteVocabAndMerges(withEndOfText: false); // tokenizer.json wins over the two-file form

        var tokenizer = Assert.IsType<HuggingFaceTokenizer>(HuggingFaceTokenizer.ForCheckpoint(_dir));

        Assert.EndsWith("tokenizer.json", tokenizer.Source, StringComparison.Ordinal);
        Assert.Equal(HelloWorld, tokenizer.Encode("hello world"));
        Assert.Equal([16, 11, 17], tokenizer.Encode("<|im_start|>hello<|im_end|>"));
        Assert.Equal(18, tokenizer.VocabularySize);
        Assert.Equal(15, tokenizer.EndId);
        Assert.Equal(15, tokenizer.PadId);
        Assert.Equal(3, tokenizer.SpecialTokens.Count);
    }

    [Fact]
    public void Tokenizer_config_names_the_end_and_pad_tokens()
    {
        WriteTokenizerJson(mergesAsPairs: false, pattern: null);
        Write("tokenizer_config.json", """{"eos_token": "<|im_end|>", "pad_token": {"content": "<|endoftext|>"}}""");

        ITextTokenizer tokenizer = HuggingFaceTokenizer.ForCheckpoint(_dir);

        Assert.Equal(17, tokenizer.EndId);
        Assert.Equal(15, tokenizer.PadId);
    }

    [Fact]
    public void Nfc_normalizer_is_applied()
    {
        if (!HuggingFaceTokenizer.CanNormalize)
        {
            Assert.Skip("this runtime cannot NFC-normalize (globalization-invariant mode)");
        }

        WriteTokenizerJson(mergesAsPairs: false, pattern: null);
        var nfc = Assert.IsType<HuggingFaceTokenizer>(HuggingFaceTokenizer.ForCheckpoint(_dir));

        // "e" + combining acute (decomposed) and "\u00e9" (composed) must tokenize the same.
        Assert.Equal(nfc.Encode("h\u00e9"), nfc.Encode("he\u0301"));
    }

    [Fact]
    public void Empty_or_missing_directory_falls_back_to_bytes()
    {
        ITextTokenizer empty = HuggingFaceTokenizer.ForCheckpoint(_dir);
        ITextTokenizer none = HuggingFaceTokenizer.ForCheckpoint(null);
        ITextTokenizer missing = HuggingFaceTokenizer.ForCheckpoint(Path.Combine(_dir, "nope"));
        Write("vocab.json", "{}"); // vocab.json without merges.txt is no vocabulary
        ITextTokenizer halfThere = HuggingFaceTokenizer.ForCheckpoint(_dir);

        Assert.All([empty, none, missing, halfThere], t => Assert.IsType<ByteTokenizer>(t));
        Assert.Equal(258, empty.VocabularySize);
        Assert.Equal(ByteTokenizer.Pad, empty.PadId);
        Assert.Equal(ByteTokenizer.EndOfText, empty.EndId);
        Assert.Equal([(int)'a' + 2], empty.Encode("a"));
    }

    [Fact]
    public void A_fine_tunes_tokenizer_is_the_model_directorys_or_refused_and_bytes_only_when_asked_for()
    {
        // Nothing there: refused, naming the file and the ways on.
        var missing = Assert.Throws<FileNotFoundException>(() => TokenizerChoice.Auto.Open(_dir));
        Assert.Contains($"{_dir} has no tokenizer.json", missing.Message, StringComparison.Ordinal);
        Assert.Contains("--tokenizer bytes", missing.Message, StringComparison.Ordinal);
        Assert.Equal(Path.Combine(_dir, "tokenizer.json"), missing.FileName);

        // A SentencePiece model alone: named, since it is not read.
        Write("tokenizer.model", "\n\u0003<s>");
        var sentencePiece = Assert.Throws<NotSupportedException>(() => TokenizerChoice.Auto.Open(_dir));
        Assert.Contains("has tokenizer.model (SentencePiece)", sentencePiece.Message, StringComparison.Ordinal);

        // Bytes where asked for, and for a built-in shape (no directory), which ships no tokenizer.
        Assert.IsType<ByteTokenizer>(TokenizerChoice.Bytes.Open(_dir));
        Assert.IsType<ByteTokenizer>(TokenizerChoice.Auto.Open(null));

        // The model's own once it is there; a named directory wins over the model's.
        WriteTokenizerJson(mergesAsPairs: false, pattern: null);
        Assert.Equal(HelloWorld, TokenizerChoice.Auto.Open(_dir).Encode("hello world"));
        string elsewhere = Directory.CreateDirectory(Path.Combine(_dir, "empty-model")).FullName;
        Assert.Equal(HelloWorld, TokenizerChoice.From(_dir).Open(elsewhere).Encode("hello world"));
        Assert.Throws<FileNotFoundException>(() => TokenizerChoice.Auto.Open(elsewhere));
    }

    [Fact]
    public void The_tokenizer_option_takes_auto_bytes_a_directory_or_its_tokenizer_json()
    {
        WriteTokenizerJson(mergesAsPairs: false, pattern: null);

        Assert.Same(TokenizerChoice.Auto, TokenizerChoice.Parse("auto"));
        Assert.Same(TokenizerChoice.Bytes, TokenizerChoice.Parse("bytes"));
        Assert.Equal(_dir, TokenizerChoice.Parse(_dir).Directory);
        Assert.Equal(_dir, TokenizerChoice.Parse(Path.Combine(_dir, "tokenizer.json")).Directory);
        var e = Assert.Throws<ArgumentException>(() => TokenizerChoice.Parse(Path.Combine(_dir, "nope")));
        Assert.Contains("expected auto, bytes, or a directory holding tokenizer.json", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("vocab.json", "{\"h\": 0, \"e\": ", "not valid JSON")]
    [InlineData("vocab.json", "[1, 2]", "must be an object of token to id, not array")]
    [InlineData("vocab.json", "{\"h\": \"zero\"}", "the id of \"h\" must be a non-negative integer")]
    [InlineData("vocab.json", "{}", "the vocabulary is empty")]
    [InlineData("merges.txt", "h e\nhe\n", "line 2: a merge must be two tokens separated by one space")]
    [InlineData("merges.txt", "h x\n", "merge 1 (\"h x\") uses \"x\", which is not in the vocabulary")]
    public void Malformed_two_file_vocabulary_gives_a_clear_error(string file, string text, string message)
    {
        WriteVocabAndMerges();
        Write(file, text);

        var e = Assert.Throws<InvalidDataException>(() => HuggingFaceTokenizer.ForCheckpoint(_dir));

        string blamed = message.StartsWith("merge 1", StringComparison.Ordinal) || message.StartsWith("the vocabulary", StringComparison.Ordinal) ? "vocab.json" : file;
        Assert.StartsWith(Path.Combine(_dir, blamed) + ": ", e.Message, StringComparison.Ordinal);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"model\": ", "not valid JSON")]
    [InlineData("{\"version\": \"1.0\"}", "missing \"model\" object")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [7]}, \"decoder\": {\"type\": \"ByteLevel\"}}", "model.merges[0] must be")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}", "model.vocab: the id of \"a\" must be a non-negative integer, not -1")]
    public void Malformed_tokenizer_json_gives_a_clear_error(string text, string message)
    {
        Write("tokenizer.json", text);

        var e = Assert.Throws<InvalidDataException>(() => HuggingFaceTokenizer.ForCheckpoint(_dir));

        Assert.StartsWith(Path.Combine(_dir, "tokenizer.json") + ": ", e.Message, StringComparison.Ordinal);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sentencepiece_style_tokenizer_json_is_refused_by_name()
    {
        Write("tokenizer.json", """{"model": {"type": "Unigram", "vocab": []}}""");

        var e = Assert.Throws<NotSupportedException>(() => HuggingFaceTokenizer.ForCheckpoint(_dir));

        Assert.Contains("tokenizer.json", e.Message, StringComparison.Ordinal);
        Assert.Contains("Unigram", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Batches_use_the_tokenizers_end_and_pad_ids()
    {
        WriteTokenizerJson(mergesAsPairs: false, pattern: null);
        ITextTokenizer tokenizer = HuggingFaceTokenizer.ForCheckpoint(_dir);
        AlpacaExample[] examples = [new("hello", "", "hello world"), new("hello", "", "he")];

        var (ids, labels) = TrainingBatches.FromExamples(examples, tokenizer, 256, tokenizer.PadId, tokenizer.EndId);
        using (ids)
        using (labels)
        {
            int prompt = tokenizer.Encode(examples[0].Prompt).Count;
            long[] row0 = ids[0].data<long>().ToArray();
            long[] row1 = ids[1].data<long>().ToArray();
            Assert.Equal(prompt + HelloWorld.Length + 1, row0.Length);
            Assert.Equal([11, 14, 2, 7, 15], row0[prompt..]);
            Assert.Equal([8, 15, 15, 15, 15], row1[prompt..]); // "he", end, then padding
            Assert.Equal(TrainingBatches.IgnoreIndex, labels[1][^1].item<long>());
        }
    }
}
