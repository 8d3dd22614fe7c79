using System.Text.Json;

namespace Gputel.Core.Data;

/// <summary>One record of a dataset file: an example, or why it would not train.</summary>
/// <param name="Number">Its line (JSONL) or position (JSON array), from 1.</param>
/// <param name="Example">The example; null when skipped.</param>
/// <param name="SkipReason">Why the record is skipped, as LLaMA-Factory skips it (e.g. a conversation with no answer); null for an example.</param>
public sealed record DatasetRecord(long Number, DatasetExample? Example, string? SkipReason);

/// <summary>
/// Reads a supervised fine-tuning dataset in the formats LLaMA-Factory and the reference workload
/// read, streamed so a file of any size is read in constant memory: a JSON array of objects or
/// JSONL (one object a line), each either
/// <list type="bullet">
/// <item>Alpaca: <c>instruction</c>, optional <c>input</c>, <c>output</c>, optional <c>system</c>
/// and <c>history</c> (earlier <c>[instruction, output]</c> pairs);</item>
/// <item>ShareGPT: <c>conversations</c> of <c>{"from", "value"}</c> (human, gpt, system,
/// observation, function_call), optional <c>system</c>;</item>
/// <item>OpenAI: <c>messages</c> of <c>{"role", "content"}</c> (user, assistant, system, tool),
/// content a string or a list of text parts.</item>
/// </list>
/// Turns are laid out in the reference workload's Alpaca template (<see cref="AlpacaExample.Prompt"/>);
/// a chat template differs by a few tokens a turn. A malformed file stops the read with a message
/// naming the file, the record and the problem; a conversation LLaMA-Factory would drop (roles out
/// of order, no answer) is returned as skipped, with the reason.
/// </summary>
public sealed class TrainingDataset : IDisposable
{
    private readonly FileStream _stream;
    private readonly bool _array;

    private TrainingDataset(string path, FileStream stream, bool array)
    {
        Path = path;
        _stream = stream;
        _array = array;
    }

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>Size of the file in bytes.</summary>
    public long Length => _stream.Length;

    /// <summary>Bytes read so far (ahead of the records returned by up to a buffer), for progress.</summary>
    public long Position => _stream.Position;

    /// <summary>Opens <paramref name="path"/>, telling a JSON array from JSONL by its first character.</summary>
    /// <exception cref="InvalidDataException">The file is missing, empty or neither JSON nor JSONL.</exception>
    public static TrainingDataset Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new InvalidDataException(Directory.Exists(path) ? $"{path}: a directory, not a dataset file" : $"{path}: no such dataset file");
        }

        FileStream stream = File.OpenRead(path);
        try
        {
            int first = FirstCharacter(stream);
            stream.Position = 0;
            return first switch
            {
                '[' => new TrainingDataset(path, stream, array: true),
                '{' => new TrainingDataset(path, stream, array: false),
                -1 => throw new InvalidDataException($"{path}: no examples (the file is empty)"),
                _ => throw new InvalidDataException($"{path}: not a dataset: expected a JSON array of examples or JSONL (one JSON object a line)"),
            };
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Every record, in file order.</summary>
    /// <exception cref="InvalidDataException">A record is not valid JSON or not an example of a known format.</exception>
    public IEnumerable<DatasetRecord> Records() => _array ? ArrayRecords() : LineRecords();

    /// <inheritdoc />
    public void Dispose() => _stream.Dispose();

    private IEnumerable<DatasetRecord> LineRecords()
    {
        using var reader = new StreamReader(_stream, leaveOpen: true);
        long number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(line);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{Path}, line {number}: not valid JSON ({e.Message})", e);
            }

            using (doc)
            {
                yield return Parse(doc.RootElement, number, $"{Path}, line {number}");
            }
        }
    }

    private IEnumerable<DatasetRecord> ArrayRecords()
    {
        // The serializer streams the array's elements one by one; JsonDocument would hold the whole file.
        using IEnumerator<JsonElement> elements = JsonSerializer.DeserializeAsyncEnumerable<JsonElement>(_stream).ToBlockingEnumerable().GetEnumerator();
        long number = 0;
        while (true)
        {
            try
            {
                if (!elements.MoveNext())
                {
                    yield break;
                }
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{Path}, after example {number}: not valid JSON (line {e.LineNumber + 1}: {FirstSentence(e.Message)})", e);
            }

            number++;
            yield return Parse(elements.Current, number, $"{Path}, example {number}");
        }
    }

    private static DatasetRecord Parse(JsonElement root, long number, string where)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"{where}: expected a JSON object, not {Kind(root)}");
        }

        if (root.TryGetProperty("conversations", out JsonElement turns) || root.TryGetProperty("messages", out turns))
        {
            return Conversation(root, turns, number, where);
        }

        if (root.TryGetProperty("instruction", out _) || root.TryGetProperty("output", out _))
        {
            return new DatasetRecord(number, Alpaca(root, where), null);
        }

        throw new InvalidDataException($"{where}: not an example of a known format (Alpaca: instruction/input/output; ShareGPT: conversations; OpenAI: messages)");
    }

    private static DatasetExample Alpaca(JsonElement root, string where)
    {
        string system = Text(root, "system", required: false, where);
        var turns = new List<(string, string)>();
        if (root.TryGetProperty("history", out JsonElement history) && history.ValueKind != JsonValueKind.Null)
        {
            if (history.ValueKind != JsonValueKind.Array)
            {
                throw new InvalidDataException($"{where}: \"history\" must be a list of [instruction, output] pairs, not {Kind(history)}");
            }

            int index = 0;
            foreach (JsonElement pair in history.EnumerateArray())
            {
                if (pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2 || pair[0].ValueKind != JsonValueKind.String || pair[1].ValueKind != JsonValueKind.String)
                {
                    throw new InvalidDataException($"{where}: history[{index}] must be a pair of strings [instruction, output]");
                }

                turns.Add((new AlpacaExample(pair[0].GetString()!, string.Empty, string.Empty).Prompt, pair[1].GetString()!));
                index++;
            }
        }

        var example = new AlpacaExample(Text(root, "instruction", required: true, where), Text(root, "input", required: false, where), Text(root, "output", required: true, where));
        turns.Add((example.Prompt, example.Output));
        return new DatasetExample(WithSystem(turns, system));
    }

    private static DatasetRecord Conversation(JsonElement root, JsonElement messages, long number, string where)
    {
        if (messages.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException($"{where}: the conversation must be a list of messages, not {Kind(messages)}");
        }

        string system = Text(root, "system", required: false, where);
        var turns = new List<(string, string)>();
        string? prompt = null;
        int index = 0;
        foreach (JsonElement message in messages.EnumerateArray())
        {
            string at = $"{where}, message {index + 1}";
            if (message.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{at}: expected an object with from/value or role/content, not {Kind(message)}");
            }

            string role = (message.TryGetProperty("from", out _) ? Text(message, "from", required: true, at) : Text(message, "role", required: true, at)).ToLowerInvariant();
            string content = Content(message, at);
            switch (role)
            {
                case "system" when index == 0:
                    system = content;
                    break;
                case "human" or "user" or "observation" or "tool" or "function" when prompt is null:
                    prompt = new AlpacaExample(content, string.Empty, string.Empty).Prompt;
                    break;
                case "gpt" or "assistant" or "function_call" or "model" when prompt is not null:
                    turns.Add((prompt, content));
                    prompt = null;
                    break;
                case "system" or "human" or "user" or "observation" or "tool" or "function" or "gpt" or "assistant" or "function_call" or "model":
                    return new DatasetRecord(number, null, $"message {index + 1} ({role}) is out of turn: prompts and answers must alternate");
                default:
                    throw new InvalidDataException($"{at}: unknown role \"{role}\"");
            }

            index++;
        }

        if (prompt is not null || turns.Count == 0)
        {
            return new DatasetRecord(number, null, turns.Count == 0 ? "no answer to train on" : "the conversation ends with a prompt that has no answer");
        }

        return new DatasetRecord(number, new DatasetExample(WithSystem(turns, system)), null);
    }

    private static List<(string, string)> WithSystem(List<(string Prompt, string Answer)> turns, string system)
    {
        if (system.Length > 0)
        {
            turns[0] = ($"### System:\n{system}\n\n{turns[0].Prompt}", turns[0].Answer);
        }

        return turns;
    }

    private static string Content(JsonElement message, string where)
    {
        string key = message.TryGetProperty("value", out _) ? "value" : "content";
        if (message.TryGetProperty(key, out JsonElement parts) && parts.ValueKind == JsonValueKind.Array)
        {
            // OpenAI's list of content parts: the text parts are what the tokenizer sees.
            return string.Concat(parts.EnumerateArray().Select(p =>
                p.ValueKind == JsonValueKind.Object && p.TryGetProperty("text", out JsonElement text) && text.ValueKind == JsonValueKind.String ? text.GetString() : string.Empty));
        }

        return Text(message, key, required: true, where);
    }

    private static string Text(JsonElement obj, string name, bool required, string where)
    {
        if (!obj.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return required ? throw new InvalidDataException($"{where}: missing \"{name}\"") : string.Empty;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new InvalidDataException($"{where}: \"{name}\" must be a string, not {Kind(value)}");
    }

    private static string Kind(JsonElement e) => e.ValueKind.ToString().ToLowerInvariant();

    private static string FirstSentence(string message)
    {
        int end = message.IndexOf(". ", StringComparison.Ordinal);
        return end < 0 ? message : message[..end];
    }

    private static int FirstCharacter(FileStream stream)
    {
        int b;
        while ((b = stream.ReadByte()) >= 0)
        {
            // Skip whitespace and a UTF-8 byte-order mark.
            if (b is not (' ' or '\t' or '\r' or '\n' or 0xEF or 0xBB or 0xBF))
            {
                return b;
            }
        }

        return -1;
    }
}
