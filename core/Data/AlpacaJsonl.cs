using System.Text.Json;

namespace Gputel.Core.Data;

/// <summary>
/// Reads Alpaca-format JSONL: one object per line with string fields <c>instruction</c> and
/// <c>output</c> and an optional <c>input</c>. Any bad line stops the read with a message naming the
/// file, the line and the problem: training on silently skipped data would mislead the measurement.
/// </summary>
public static class AlpacaJsonl
{
    /// <summary>Reads every example; throws <see cref="InvalidDataException"/> for a bad file.</summary>
    public static IReadOnlyList<AlpacaExample> Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"{path}: no such dataset file");
        }

        var examples = new List<AlpacaExample>();
        int number = 0;
        foreach (string line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            examples.Add(Parse(line, path, number));
        }

        if (examples.Count == 0)
        {
            throw new InvalidDataException($"{path}: no examples (the file is empty)");
        }

        return examples;
    }

    private static AlpacaExample Parse(string line, string path, int number)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}, line {number}: not valid JSON ({e.Message})");
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{path}, line {number}: expected a JSON object with instruction, input and output");
            }

            return new AlpacaExample(
                Field(doc.RootElement, "instruction", required: true, path, number),
                Field(doc.RootElement, "input", required: false, path, number),
                Field(doc.RootElement, "output", required: true, path, number));
        }
    }

    private static string Field(JsonElement obj, string name, bool required, string path, int number)
    {
        if (!obj.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return required ? throw new InvalidDataException($"{path}, line {number}: missing \"{name}\"") : string.Empty;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new InvalidDataException($"{path}, line {number}: \"{name}\" must be a string, not {value.ValueKind.ToString().ToLowerInvariant()}");
    }
}
