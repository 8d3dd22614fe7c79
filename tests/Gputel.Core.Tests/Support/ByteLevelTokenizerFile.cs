using System.Text.Json;

namespace Gputel.Tests.Support;

/// <summary>
/// A tokenizer.json of a byte-level BPE whose counts are known: every byte is one token, except
/// that two <c>a</c>s merge into one (<c>aa</c>), so a run of 2n <c>a</c>s is n tokens.
/// </summary>
internal static class ByteLevelTokenizerFile
{
    public static void Write(string directory)
    {
        // GPT-2's byte-to-character table: printable bytes stand for themselves, the rest are
        // shifted past 255 (a space is "Ġ", a newline "Ċ").
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        int shifted = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= 33 and <= 126 or >= 161 and <= 172 or >= 174 and <= 255;
            vocab[((char)(printable ? b : 256 + shifted++)).ToString()] = b;
        }

        vocab["aa"] = 256;
        var json = new
        {
            version = "1.0",
            added_tokens = new object[] { new { id = 257, content = "<|endoftext|>", special = true } },
            pre_tokenizer = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = true },
            decoder = new { type = "ByteLevel" },
            model = new { type = "BPE", vocab, merges = new[] { "a a" } },
        };
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), JsonSerializer.Serialize(json));
    }
}
