using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gputel.Core.Training;

/// <summary>Reads and writes an <see cref="INamedValue{TSelf}"/> as its name; any other string is malformed JSON for it.</summary>
/// <typeparam name="T">The named type.</typeparam>
public sealed class NamedValueJsonConverter<T> : JsonConverter<T>
    where T : struct, INamedValue<T>
{
    /// <inheritdoc />
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String && T.TryParse(reader.GetString(), out T value)
            ? value
            : throw new JsonException($"expected {T.Expected}");

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value.ToString());
    }
}
