using System.Text.Json.Serialization;
using Gputel.Core.Training;

namespace Gputel.Core.Reports;

/// <summary>Source-generated JSON for <c>summary.json</c> (snake_case, enums as names).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true, UseStringEnumConverter = true)]
[JsonSerializable(typeof(RunSummary))]
internal sealed partial class ReportJson : JsonSerializerContext;
