using System.Text.Json.Serialization;
using Gputel.Core.Training;

namespace Gputel.Core.Records;

/// <summary>One line of <c>steps.jsonl</c>: a phase of a step.</summary>
/// <param name="Time">When the phase ended (UTC).</param>
/// <param name="Step">Training step, from 0.</param>
/// <param name="Phase">The phase (required: a line without one is damaged).</param>
/// <param name="Seconds">Phase duration.</param>
/// <param name="Bytes">Bytes per memory category (snake_case names).</param>
/// <param name="AllocatorBytes">The allocator's in-use bytes at the end of the phase.</param>
/// <param name="PeakBytes">The allocator's peak inside the phase.</param>
/// <param name="Loss">The loss, on the phase that computed it.</param>
public sealed record StepLine(
    [property: JsonPropertyName("time")] DateTimeOffset Time,
    [property: JsonPropertyName("step")] int Step,
    [property: JsonPropertyName("phase"), JsonRequired] Phase Phase,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("bytes")] IReadOnlyDictionary<string, long> Bytes,
    [property: JsonPropertyName("allocator_bytes")] long AllocatorBytes,
    [property: JsonPropertyName("peak_bytes")] long PeakBytes,
    [property: JsonPropertyName("loss")] double? Loss);

/// <summary>One line of <c>samples.jsonl</c>: what the device saw at a moment.</summary>
/// <param name="Time">When (UTC).</param>
/// <param name="Gpu">GPU index, or -1 for the host.</param>
/// <param name="UsedBytes">Device (or host malloc) memory in use.</param>
/// <param name="ProcessUsedBytes">This process's memory on the device as NVML sees it, where known.</param>
public sealed record SampleLine(
    [property: JsonPropertyName("time")] DateTimeOffset Time,
    [property: JsonPropertyName("gpu")] int Gpu,
    [property: JsonPropertyName("used_bytes")] long UsedBytes,
    [property: JsonPropertyName("process_used_bytes")] long? ProcessUsedBytes);

/// <summary>Source-generated JSON for run records (no reflection).</summary>
// A line missing a field, or with null where the type has none, is a damaged line (a JsonException
// the reader reports), not a record with nulls that crash whoever reads it next.
// A diverged run's loss is NaN or infinite: written as "NaN" / "Infinity" (and read back), since
// plain JSON has no such numbers and refusing the line would lose the step it records.
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, RespectNullableAnnotations = true, RespectRequiredConstructorParameters = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(RunInfo))]
[JsonSerializable(typeof(StepLine))]
[JsonSerializable(typeof(SampleLine))]
[JsonSerializable(typeof(RunEnd))]
internal sealed partial class RecordJson : JsonSerializerContext;
