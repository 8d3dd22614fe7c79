using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gputel.Core.Training;

/// <summary>Reads and writes a <see cref="ComputeDevice"/> as its name (<c>cpu</c>, <c>cuda:0</c>).</summary>
public sealed class ComputeDeviceJsonConverter : JsonConverter<ComputeDevice>
{
    /// <inheritdoc />
    public override ComputeDevice Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String && ComputeDevice.TryParse(reader.GetString(), out ComputeDevice device)
            ? device
            : throw new JsonException("device must be cpu, cuda or cuda:N");

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, ComputeDevice value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value.ToString());
    }
}
