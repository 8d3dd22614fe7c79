using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Gputel.Core.Data;

/// <summary>
/// The tokenizer a Hugging Face checkpoint ships, for byte-level BPE vocabularies (GPT-2, Qwen2,
/// Llama-3): read from <c>tokenizer.json</c>, or from <c>vocab.json</c> + <c>merges.txt</c>, and run
/// by Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> with its byte-level option. Special
/// tokens (<c>added_tokens</c> in <c>tokenizer.json</c>, or <c>added_tokens_decoder</c> in
/// <c>tokenizer_config.json</c>) are matched whole in the text, as Hugging Face does.
/// </summary>
public sealed class HuggingFaceTokenizer : ITextTokenizer
{
    /// <summary>Name of the single-file Hugging Face tokenizer description.</summary>
    public const string TokenizerJson = "tokenizer.json";

    /// <summary>Name of the vocabulary file of the two-file form (token to id, as JSON).</summary>
    public const string VocabJson = "vocab.json";

    /// <summary>Name of the merges file of the two-file form (one "left right" pair a line).</summary>
    public const string MergesTxt = "merges.txt";

    /// <summary>Name of the file that names the pad and end-of-sequence tokens, when present.</summary>
    public const string TokenizerConfigJson = "tokenizer_config.json";

    /// <summary>
    /// GPT-2's pre-tokenizer pattern, used when the files name none (the two-file form, or a
    /// <c>ByteLevel</c> pre-tokenizer with <c>use_regex</c>).
    /// </summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>End-of-text tokens tried, in order, when the configuration names none.</summary>
    private static readonly string[] EndCandidates = ["<|endoftext|>", "<|end_of_text|>", "</s>", "<|im_end|>", "<|eot_id|>", "<eos>"];

    /// <summary>
    /// Whether this runtime can NFC-normalize (not in globalization-invariant mode without ICU);
    /// where it cannot, NFC normalizers are skipped, which only matters for decomposed input.
    /// </summary>
    public static readonly bool CanNormalize = ProbeNormalization();

    private readonly BpeTokenizer _bpe;
    private readonly bool _normalizeNfc;
    private readonly bool _addPrefixSpace;

    private HuggingFaceTokenizer(BpeTokenizer bpe, string source, int vocabularySize, IReadOnlyDictionary<string, int> specialTokens, int padId, int endId, bool normalizeNfc, bool addPrefixSpace)
    {
        _bpe = bpe;
        Source = source;
        VocabularySize = vocabularySize;
        SpecialTokens = specialTokens;
        PadId = padId;
        EndId = endId;
        _normalizeNfc = normalizeNfc;
        _addPrefixSpace = addPrefixSpace;
    }

    /// <summary>The file the vocabulary was read from (<c>tokenizer.json</c> or <c>vocab.json</c>).</summary>
    public string Source { get; }

    /// <summary>
    /// One more than the largest id of the vocabulary and special tokens. A model's embedding may be
    /// larger (Qwen2 pads it to a multiple of 128); ids are below this either way.
    /// </summary>
    public int VocabularySize { get; }

    /// <summary>Special (added) tokens and their ids, matched whole in the text.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens { get; }

    /// <summary>
    /// Id used for padding: the configuration's <c>pad_token</c>, else <c>&lt;|endoftext|&gt;</c>,
    /// else <see cref="EndId"/> (padding is masked out of the loss, so any id will do).
    /// </summary>
    public int PadId { get; }

    /// <summary>
    /// Id that ends a sequence: the configuration's <c>eos_token</c>, else the first of
    /// <c>&lt;|endoftext|&gt;</c> (Qwen2, GPT-2), <c>&lt;|end_of_text|&gt;</c> (Llama-3),
    /// <c>&lt;/s&gt;</c>, <c>&lt;|im_end|&gt;</c>, <c>&lt;|eot_id|&gt;</c>, <c>&lt;eos&gt;</c> that exists,
    /// else the largest id.
    /// </summary>
    public int EndId { get; }

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text)
    {
        text = Prepare(text);
        return text.Length == 0 ? [] : _bpe.EncodeToIds(text);
    }

    /// <inheritdoc />
    public int CountTokens(string text)
    {
        // Counting skips building the id list, which is most of the cost over a whole dataset.
        text = Prepare(text);
        return text.Length == 0 ? 0 : _bpe.CountTokens(text);
    }

    private string Prepare(string? text)
    {
        text ??= string.Empty;
        if (_normalizeNfc && CanNormalize)
        {
            text = text.Normalize(NormalizationForm.FormC);
        }

        if (_addPrefixSpace && !text.StartsWith(' '))
        {
            text = " " + text;
        }

        return text;
    }

    /// <summary>The text of token ids (special tokens included).</summary>
    public string Decode(IEnumerable<int> ids) => _bpe.Decode(ids);

    /// <summary>
    /// The checkpoint's own tokenizer when <paramref name="directory"/> has <c>tokenizer.json</c>
    /// or <c>vocab.json</c> + <c>merges.txt</c>; otherwise (no directory, or no vocabulary in it)
    /// the <see cref="ByteTokenizer"/>. The lenient form: a fine-tune uses <see cref="FromDirectory"/>
    /// through <c>TokenizerChoice</c> (in the profiler), which refuses instead of falling back.
    /// </summary>
    /// <exception cref="InvalidDataException">A vocabulary file is malformed (the message names it).</exception>
    /// <exception cref="NotSupportedException">The tokenizer is not byte-level BPE (e.g. SentencePiece).</exception>
    public static ITextTokenizer ForCheckpoint(string? directory)
    {
        if (string.IsNullOrWhiteSpace(directory) || !Directory.Exists(directory))
        {
            return new ByteTokenizer();
        }

        if (File.Exists(Path.Combine(directory, TokenizerJson)))
        {
            return FromTokenizerJson(directory);
        }

        if (File.Exists(Path.Combine(directory, VocabJson)) && File.Exists(Path.Combine(directory, MergesTxt)))
        {
            return FromVocabAndMerges(directory);
        }

        return new ByteTokenizer();
    }

    /// <summary>Name of a SentencePiece model file (Llama-2, Mistral), which this reader does not run.</summary>
    public const string SentencePieceModel = "tokenizer.model";

    /// <summary>
    /// The tokenizer in <paramref name="directory"/>, which must hold one: <c>tokenizer.json</c>, or
    /// <c>vocab.json</c> + <c>merges.txt</c>. Unlike <see cref="ForCheckpoint"/> it never falls back to
    /// bytes: a model trained on ids of another vocabulary learns nothing its users will see.
    /// </summary>
    /// <exception cref="FileNotFoundException">No tokenizer is there; the message names the file missing and how to go on.</exception>
    /// <exception cref="NotSupportedException">Only <c>tokenizer.model</c> (SentencePiece) is there, or the files describe something other than byte-level BPE.</exception>
    /// <exception cref="InvalidDataException">A vocabulary file is malformed (the message names it).</exception>
    public static HuggingFaceTokenizer FromDirectory(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (File.Exists(Path.Combine(directory, TokenizerJson)))
        {
            return FromTokenizerJson(directory);
        }

        if (File.Exists(Path.Combine(directory, VocabJson)) && File.Exists(Path.Combine(directory, MergesTxt)))
        {
            return FromVocabAndMerges(directory);
        }

        const string WaysOut = "name a directory that holds one with --tokenizer DIR, or train on byte tokens with --tokenizer bytes";
        if (File.Exists(Path.Combine(directory, SentencePieceModel)))
        {
            throw new NotSupportedException(
                $"{directory} has {SentencePieceModel} (SentencePiece), which gputel does not read, and no {TokenizerJson}: add the model's {TokenizerJson} (Hugging Face's fast tokenizer file), {WaysOut}");
        }

        throw new FileNotFoundException(
            $"{directory} has no {TokenizerJson} (nor {SentencePieceModel}, nor {VocabJson} + {MergesTxt}) to tokenize the dataset with: copy the model's {TokenizerJson} there, {WaysOut}",
            Path.Combine(directory, TokenizerJson));
    }

    /// <summary>The tokenizer of <c>tokenizer.json</c> in <paramref name="directory"/> (plus <c>tokenizer_config.json</c> if there).</summary>
    /// <exception cref="InvalidDataException">The file is malformed (the message names it).</exception>
    /// <exception cref="NotSupportedException">The file describes something other than byte-level BPE.</exception>
    public static HuggingFaceTokenizer FromTokenizerJson(string directory)
    {
        string path = Path.Combine(directory, TokenizerJson);
        using JsonDocument doc = ParseJson(path);
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Bad(path, "the top level must be an object");
        }

        if (!root.TryGetProperty("model", out JsonElement model) || model.ValueKind != JsonValueKind.Object)
        {
            throw Bad(path, "missing \"model\" object");
        }

        string? type = model.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (type is not null && type != "BPE")
        {
            throw new NotSupportedException($"{path}: model type \"{type}\" is not supported (only byte-level BPE is).");
        }

        if (!model.TryGetProperty("vocab", out JsonElement vocabElement))
        {
            throw Bad(path, "missing \"model.vocab\"");
        }

        Dictionary<string, int> vocab = ReadVocabulary(vocabElement, path, "model.vocab");
        if (!model.TryGetProperty("merges", out JsonElement mergesElement) || mergesElement.ValueKind != JsonValueKind.Array)
        {
            throw Bad(path, "missing \"model.merges\" array");
        }

        var merges = new List<string>(mergesElement.GetArrayLength());
        int index = 0;
        foreach (JsonElement merge in mergesElement.EnumerateArray())
        {
            merges.Add(merge.ValueKind switch
            {
                JsonValueKind.String => CheckMerge(merge.GetString()!, path, $"model.merges[{index}]"),
                JsonValueKind.Array when merge.GetArrayLength() == 2 && merge.EnumerateArray().All(p => p.ValueKind == JsonValueKind.String)
                    => merge[0].GetString() + " " + merge[1].GetString(),
                _ => throw Bad(path, $"model.merges[{index}] must be \"left right\" or [\"left\", \"right\"]"),
            });
            index++;
        }

        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root.TryGetProperty("added_tokens", out JsonElement added) && added.ValueKind == JsonValueKind.Array)
        {
            index = 0;
            foreach (JsonElement token in added.EnumerateArray())
            {
                if (token.ValueKind != JsonValueKind.Object
                    || !token.TryGetProperty("id", out JsonElement id) || !id.TryGetInt32(out int idValue) || idValue < 0
                    || !token.TryGetProperty("content", out JsonElement content) || content.ValueKind != JsonValueKind.String)
                {
                    throw Bad(path, $"added_tokens[{index}] needs a non-negative \"id\" and a string \"content\"");
                }

                special[content.GetString()!] = idValue;
                index++;
            }
        }

        var (pattern, byteLevel, addPrefixSpace) = ReadPreTokenizer(root, path);
        if (!byteLevel)
        {
            throw new NotSupportedException($"{path}: not a byte-level BPE tokenizer (no ByteLevel pre-tokenizer or decoder); SentencePiece-style BPE is not supported.");
        }

        bool nfc = root.TryGetProperty("normalizer", out JsonElement normalizer) && ContainsType(normalizer, "NFC");
        return Build(path, directory, vocab, merges, special, pattern ?? Gpt2Pattern, nfc, addPrefixSpace);
    }

    /// <summary>The tokenizer of <c>vocab.json</c> + <c>merges.txt</c> in <paramref name="directory"/> (plus <c>tokenizer_config.json</c> if there), with GPT-2's pre-tokenizer pattern.</summary>
    /// <exception cref="InvalidDataException">A file is malformed (the message names it).</exception>
    public static HuggingFaceTokenizer FromVocabAndMerges(string directory)
    {
        string vocabPath = Path.Combine(directory, VocabJson);
        string mergesPath = Path.Combine(directory, MergesTxt);
        Dictionary<string, int> vocab;
        using (JsonDocument doc = ParseJson(vocabPath))
        {
            vocab = ReadVocabulary(doc.RootElement, vocabPath, "the top level");
        }

        var merges = new List<string>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(mergesPath))
        {
            lineNumber++;
            if (line.Length == 0 || (lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal)))
            {
                continue;
            }

            merges.Add(CheckMerge(line, mergesPath, $"line {lineNumber}"));
        }

        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        string configPath = Path.Combine(directory, TokenizerConfigJson);
        if (File.Exists(configPath))
        {
            using JsonDocument config = ParseJson(configPath);
            if (config.RootElement.ValueKind == JsonValueKind.Object
                && config.RootElement.TryGetProperty("added_tokens_decoder", out JsonElement decoder)
                && decoder.ValueKind == JsonValueKind.Object)
            {
                foreach (JsonProperty entry in decoder.EnumerateObject())
                {
                    if (!int.TryParse(entry.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int id)
                        || entry.Value.ValueKind != JsonValueKind.Object
                        || !entry.Value.TryGetProperty("content", out JsonElement content) || content.ValueKind != JsonValueKind.String)
                    {
                        throw Bad(configPath, $"added_tokens_decoder[\"{entry.Name}\"] needs an integer key and a string \"content\"");
                    }

                    special[content.GetString()!] = id;
                }
            }
        }

        return Build(vocabPath, directory, vocab, merges, special, Gpt2Pattern, nfc: false, addPrefixSpace: false);
    }

    private static HuggingFaceTokenizer Build(string source, string directory, Dictionary<string, int> vocab, List<string> merges, Dictionary<string, int> special, string pattern, bool nfc, bool addPrefixSpace)
    {
        if (vocab.Count == 0)
        {
            throw Bad(source, "the vocabulary is empty");
        }

        // Special tokens that the vocabulary also lists (GPT-2's <|endoftext|>) are special too.
        foreach (string candidate in EndCandidates)
        {
            if (!special.ContainsKey(candidate) && vocab.TryGetValue(candidate, out int id))
            {
                special[candidate] = id;
            }
        }

        for (int i = 0; i < merges.Count; i++)
        {
            int space = merges[i].IndexOf(' ', StringComparison.Ordinal);
            string left = merges[i][..space], right = merges[i][(space + 1)..];
            foreach (string part in (ReadOnlySpan<string>)[left, right, left + right])
            {
                if (!vocab.ContainsKey(part))
                {
                    throw Bad(source, $"merge {i + 1} (\"{merges[i]}\") uses \"{part}\", which is not in the vocabulary");
                }
            }
        }

        Regex regex;
        try
        {
            regex = new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
        }
        catch (ArgumentException e)
        {
            throw Bad(source, $"the pre-tokenizer pattern is not a valid .NET regex: {e.Message}", e);
        }

        IReadOnlyDictionary<string, int>? specialOrNull = special.Count == 0 ? null : special;
        var options = new BpeOptions(vocab)
        {
            Merges = merges,
            SpecialTokens = specialOrNull,
            PreTokenizer = new RegexPreTokenizer(regex, specialOrNull),
            ByteLevel = true,
        };
        BpeTokenizer bpe;
        try
        {
            bpe = BpeTokenizer.Create(options);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw Bad(source, $"Microsoft.ML.Tokenizers rejected the vocabulary: {e.Message}", e);
        }

        int size = Math.Max(vocab.Values.Max(), special.Count == 0 ? -1 : special.Values.Max()) + 1;
        var (padName, endName) = ReadConfiguredNames(directory);
        int? Lookup(string? name) =>
            name is null ? null : special.TryGetValue(name, out int s) ? s : vocab.TryGetValue(name, out int v) ? v : null;
        int endId = Lookup(endName) ?? EndCandidates.Select(Lookup).FirstOrDefault(id => id is not null) ?? size - 1;
        int padId = Lookup(padName) ?? Lookup("<|endoftext|>") ?? endId;
        return new HuggingFaceTokenizer(bpe, source, size, special, padId, endId, nfc, addPrefixSpace);
    }

    private static (string? Pad, string? End) ReadConfiguredNames(string directory)
    {
        string path = Path.Combine(directory, TokenizerConfigJson);
        if (!File.Exists(path))
        {
            return (null, null);
        }

        using JsonDocument doc = ParseJson(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            return (null, null);
        }

        static string? Name(JsonElement root, string key) =>
            !root.TryGetProperty(key, out JsonElement e) ? null
            : e.ValueKind == JsonValueKind.String ? e.GetString()
            : e.ValueKind == JsonValueKind.Object && e.TryGetProperty("content", out JsonElement c) && c.ValueKind == JsonValueKind.String ? c.GetString()
            : null;
        return (Name(doc.RootElement, "pad_token"), Name(doc.RootElement, "eos_token"));
    }

    private static (string? Pattern, bool ByteLevel, bool AddPrefixSpace) ReadPreTokenizer(JsonElement root, string path)
    {
        var patterns = new List<string>();
        bool byteLevel = false, addPrefixSpace = false, useRegex = false;
        void Visit(JsonElement e)
        {
            if (e.ValueKind != JsonValueKind.Object)
            {
                return;
            }

            string? type = e.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            if (type == "Sequence" && e.TryGetProperty("pretokenizers", out JsonElement list) && list.ValueKind == JsonValueKind.Array)
            {
                foreach (JsonElement item in list.EnumerateArray())
                {
                    Visit(item);
                }
            }
            else if (type == "Split" && e.TryGetProperty("pattern", out JsonElement p) && p.ValueKind == JsonValueKind.Object)
            {
                if (p.TryGetProperty("Regex", out JsonElement r) && r.ValueKind == JsonValueKind.String)
                {
                    patterns.Add(r.GetString()!);
                }
                else if (p.TryGetProperty("String", out JsonElement s) && s.ValueKind == JsonValueKind.String)
                {
                    patterns.Add(Regex.Escape(s.GetString()!));
                }
            }
            else if (type == "ByteLevel")
            {
                byteLevel = true;
                addPrefixSpace |= e.TryGetProperty("add_prefix_space", out JsonElement a) && a.ValueKind == JsonValueKind.True;
                useRegex |= !e.TryGetProperty("use_regex", out JsonElement u) || u.ValueKind != JsonValueKind.False;
            }
        }

        if (root.TryGetProperty("pre_tokenizer", out JsonElement pre))
        {
            Visit(pre);
        }

        // Some files put ByteLevel only in the decoder; the model is still byte-level.
        byteLevel |= root.TryGetProperty("decoder", out JsonElement decoder) && ContainsType(decoder, "ByteLevel");
        if (patterns.Count > 1)
        {
            throw new NotSupportedException($"{path}: {patterns.Count} chained Split pre-tokenizers are not supported (one pattern is).");
        }

        return (patterns.Count == 1 ? patterns[0] : useRegex ? Gpt2Pattern : null, byteLevel, addPrefixSpace);
    }

    private static bool ProbeNormalization()
    {
        try
        {
            return "e\u0301".Normalize(NormalizationForm.FormC) == "\u00e9";
        }
        catch (PlatformNotSupportedException)
        {
            return false;
        }
    }

    private static bool ContainsType(JsonElement e, string type) => e.ValueKind switch
    {
        JsonValueKind.Object => (e.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String && t.GetString() == type)
            || e.EnumerateObject().Any(p => ContainsType(p.Value, type)),
        JsonValueKind.Array => e.EnumerateArray().Any(i => ContainsType(i, type)),
        _ => false,
    };

    private static Dictionary<string, int> ReadVocabulary(JsonElement element, string path, string where)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw Bad(path, $"{where} must be an object of token to id, not {element.ValueKind.ToString().ToLowerInvariant()}");
        }

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (JsonProperty entry in element.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
            {
                throw Bad(path, $"{where}: the id of \"{entry.Name}\" must be a non-negative integer, not {entry.Value.GetRawText()}");
            }

            vocab[entry.Name] = id;
        }

        return vocab;
    }

    private static string CheckMerge(string merge, string path, string where)
    {
        int space = merge.IndexOf(' ', StringComparison.Ordinal);
        if (space <= 0 || space == merge.Length - 1 || merge.IndexOf(' ', space + 1) >= 0)
        {
            throw Bad(path, $"{where}: a merge must be two tokens separated by one space, not \"{merge}\"");
        }

        return merge;
    }

    private static JsonDocument ParseJson(string path)
    {
        try
        {
            using FileStream stream = File.OpenRead(path);
            return JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw Bad(path, $"not valid JSON ({e.Message})", e);
        }
    }

    private static InvalidDataException Bad(string path, string message, Exception? inner = null) =>
        new($"{path}: {message}", inner);
}
