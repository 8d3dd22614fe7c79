using System.Text.Json;

namespace Gputel.Core.Checkpoints;

/// <summary>
/// A parsed and checked safetensors header. Strict: anything the format does not allow is a
/// <see cref="SafetensorsException"/>, so that a hostile or corrupt file is refused before any
/// tensor is read rather than misread later.
/// </summary>
internal sealed class SafetensorsHeader
{
    /// <summary>The key under which the header keeps its string-to-string metadata.</summary>
    internal const string MetadataKey = "__metadata__";

    /// <summary>
    /// The largest header accepted, as in the reference implementation. The length field comes
    /// from the file, so without a cap a hostile file could ask for up to 16 EiB.
    /// </summary>
    internal const long MaxLength = 100L * 1024 * 1024;

    private static readonly string[] EntryFields = ["dtype", "shape", "data_offsets"];

    private SafetensorsHeader(IReadOnlyList<TensorEntry> entries, IReadOnlyDictionary<string, string> metadata)
    {
        Entries = entries;
        Metadata = metadata;
    }

    /// <summary>The tensors, in the order the header lists them.</summary>
    internal IReadOnlyList<TensorEntry> Entries { get; }

    /// <summary>The <c>__metadata__</c> object, empty when the header has none.</summary>
    internal IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>
    /// Parses <paramref name="json"/>, the header of <paramref name="path"/>, whose data section
    /// holds <paramref name="dataLength"/> bytes.
    /// </summary>
    internal static SafetensorsHeader Parse(ReadOnlyMemory<byte> json, long dataLength, string path)
    {
        JsonDocument document = JsonObjectFile.Parse(json, path, "the header");
        using (document)
        {
            JsonElement root = document.RootElement;

            var entries = new List<TensorEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
            {
                // JsonDocument keeps both copies of a repeated key; which one wins would be a guess.
                if (!seen.Add(property.Name))
                {
                    throw new SafetensorsException(path, $"the header names '{property.Name}' twice");
                }
                if (property.Name == MetadataKey)
                {
                    ParseMetadata(property.Value, metadata, path);
                }
                else
                {
                    entries.Add(ParseEntry(property.Name, property.Value, dataLength, path));
                }
            }

            CheckNoOverlaps(entries, path);
            return new SafetensorsHeader(entries, metadata);
        }
    }

    private static void ParseMetadata(JsonElement value, Dictionary<string, string> metadata, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new SafetensorsException(path, $"'{MetadataKey}' is a JSON {JsonObjectFile.Describe(value.ValueKind)}, not an object of strings");
        }
        foreach (JsonProperty item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
            {
                throw new SafetensorsException(
                    path, $"'{MetadataKey}' value for '{item.Name}' is a JSON {JsonObjectFile.Describe(item.Value.ValueKind)}, not a string");
            }
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
            {
                throw new SafetensorsException(path, $"'{MetadataKey}' names '{item.Name}' twice");
            }
        }
    }

    private static TensorEntry ParseEntry(string name, JsonElement value, long dataLength, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new SafetensorsException(path, $"tensor '{name}' is a JSON {JsonObjectFile.Describe(value.ValueKind)}, not an object");
        }
        foreach (JsonProperty field in value.EnumerateObject())
        {
            if (Array.IndexOf(EntryFields, field.Name) < 0)
            {
                throw new SafetensorsException(
                    path, $"tensor '{name}' has unknown field '{field.Name}' (expected dtype, shape, data_offsets)");
            }
        }

        JsonElement dtypeElement = RequiredField(value, name, "dtype", JsonValueKind.String, path);
        string dtypeName = dtypeElement.GetString()!;
        if (!SafetensorsDTypeExtensions.TryParseHeaderName(dtypeName, out SafetensorsDType dtype))
        {
            throw new SafetensorsException(path, $"tensor '{name}' has unknown dtype '{dtypeName}'");
        }

        long[] shape = ReadIntegers(RequiredField(value, name, "shape", JsonValueKind.Array, path), name, "shape", path);
        long[] offsets = ReadIntegers(RequiredField(value, name, "data_offsets", JsonValueKind.Array, path), name, "data_offsets", path);
        if (offsets.Length != 2)
        {
            throw new SafetensorsException(path, $"tensor '{name}' has {offsets.Length} data_offsets; expected 2 (begin, end)");
        }
        (long begin, long end) = (offsets[0], offsets[1]);
        if (end < begin)
        {
            throw new SafetensorsException(path, $"tensor '{name}' has data_offsets [{begin}, {end}] whose end is before its begin");
        }
        if (end > dataLength)
        {
            throw new SafetensorsException(
                path, $"tensor '{name}' has data_offsets [{begin}, {end}] outside the data section, which holds {dataLength} bytes");
        }

        long expectedLength = ByteLength(shape, dtype, name, path);
        if (end - begin != expectedLength)
        {
            throw new SafetensorsException(
                path,
                $"tensor '{name}' occupies {end - begin} bytes but dtype {dtype.HeaderName()} and shape [{string.Join(", ", shape)}] "
                + $"need {expectedLength}");
        }
        return new TensorEntry(name, dtype, shape, begin, end - begin);
    }

    private static JsonElement RequiredField(JsonElement entry, string name, string field, JsonValueKind kind, string path)
    {
        if (!entry.TryGetProperty(field, out JsonElement value))
        {
            throw new SafetensorsException(path, $"tensor '{name}' is missing field '{field}'");
        }
        if (value.ValueKind != kind)
        {
            throw new SafetensorsException(
                path, $"tensor '{name}' field '{field}' is a JSON {JsonObjectFile.Describe(value.ValueKind)}, not {JsonObjectFile.Describe(kind)}");
        }
        return value;
    }

    /// <summary>Reads an array of non-negative integers that fit in a <see cref="long"/>.</summary>
    private static long[] ReadIntegers(JsonElement array, string name, string field, string path)
    {
        var values = new long[array.GetArrayLength()];
        int index = 0;
        foreach (JsonElement item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long value))
            {
                throw new SafetensorsException(
                    path, $"tensor '{name}' {field}[{index}] is {item.GetRawText()}, not an integer that fits in 64 bits");
            }
            if (value < 0)
            {
                throw new SafetensorsException(path, $"tensor '{name}' {field}[{index}] is negative ({value})");
            }
            values[index++] = value;
        }
        return values;
    }

    private static long ByteLength(long[] shape, SafetensorsDType dtype, string name, string path)
    {
        try
        {
            long count = 1;
            foreach (long dimension in shape)
            {
                count = checked(count * dimension);
            }
            return checked(count * dtype.ElementSize());
        }
        catch (OverflowException e)
        {
            throw new SafetensorsException(
                path, $"tensor '{name}' shape [{string.Join(", ", shape)}] overflows a 64-bit byte count", e);
        }
    }

    /// <summary>
    /// Two tensors may not share bytes: writing one in place would change the other. Gaps between
    /// tensors are allowed (padding); empty tensors occupy nothing, so they never overlap.
    /// </summary>
    private static void CheckNoOverlaps(List<TensorEntry> entries, string path)
    {
        TensorEntry? furthest = null;
        foreach (TensorEntry entry in entries.Where(e => e.ByteLength > 0).OrderBy(e => e.DataOffset))
        {
            if (furthest is not null && entry.DataOffset < furthest.DataOffset + furthest.ByteLength)
            {
                throw new SafetensorsException(
                    path,
                    $"tensor '{entry.Name}' at data_offsets {Range(entry)} overlaps tensor '{furthest.Name}' at {Range(furthest)}");
            }
            if (furthest is null || entry.DataOffset + entry.ByteLength > furthest.DataOffset + furthest.ByteLength)
            {
                furthest = entry;
            }
        }
    }

    private static string Range(TensorEntry entry) => $"[{entry.DataOffset}, {entry.DataOffset + entry.ByteLength}]";
}
