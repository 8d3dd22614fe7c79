using System.Text.Json;
using System.Text.Unicode;

namespace Gputel.Core.Checkpoints;

/// <summary>Parses the JSON objects of checkpoint files (safetensors headers, shard indexes) with one set of checks.</summary>
internal static class JsonObjectFile
{
    /// <summary>
    /// Parses <paramref name="json"/>, which must be a UTF-8 JSON object; <paramref name="what"/> names
    /// it in errors ("the header", "the index"). The caller disposes the document.
    /// </summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> json, string path, string what)
    {
        // JsonDocument checks the UTF-8 of strings only when they are read, and then throws InvalidOperationException.
        if (!Utf8.IsValid(json.Span))
        {
            throw new SafetensorsException(path, $"{what} is not valid UTF-8");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new SafetensorsException(path, $"{what} is not valid JSON: {e.Message}", e);
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            JsonValueKind kind = document.RootElement.ValueKind;
            document.Dispose();
            throw new SafetensorsException(path, $"{what} is a JSON {Describe(kind)}, not an object");
        }

        return document;
    }

    /// <summary>A JSON value kind as a reader would name it.</summary>
    public static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };
}
