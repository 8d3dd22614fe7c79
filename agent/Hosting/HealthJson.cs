using System.Text.Json.Serialization;

namespace Gputel.Agent.Hosting;

/// <summary>Source-generated JSON for the health endpoint (no reflection, so trimming is safe).</summary>
[JsonSerializable(typeof(Dictionary<string, object?>))]
[JsonSerializable(typeof(bool))]
[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(string))]
internal sealed partial class HealthJson : JsonSerializerContext;
