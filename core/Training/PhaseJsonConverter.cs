using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gputel.Core.Training;

/// <summary>Reads and writes a <see cref="Phase"/> as its name; any other string is malformed JSON for it.</summary>
public sealed class PhaseJsonConverter : JsonConverter<Phase>
{
    /// <inheritdoc />
    public override Phase Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String && Phase.TryParse(reader.GetString(), out Phase phase)
            ? phase
            : throw new JsonException("phase must be one of forward, backward, optimizer_step, zero_grad");

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, Phase value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value.Name);
    }
}
