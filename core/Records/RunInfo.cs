using Gputel.Core.Training;

namespace Gputel.Core.Records;

/// <summary>What ran: written once to <c>run.json</c> at the start of a run.</summary>
/// <param name="RunId">A name for the run, unique among runs in one place.</param>
/// <param name="Model">Model shape name (e.g. <c>qwen2-1.5b</c>) or checkpoint directory.</param>
/// <param name="Method">Fine-tuning method: <c>full</c>, <c>freeze</c> or <c>lora</c>.</param>
/// <param name="Dtype">Parameter dtype (<c>fp32</c>, <c>bf16</c>).</param>
/// <param name="Device">Where the run computes (<c>cpu</c>, <c>cuda:0</c>).</param>
/// <param name="StartTime">When the run started (UTC).</param>
/// <param name="Settings">Every other setting (optimizer, batch size, cutoff length, LoRA rank, ...), as text.</param>
/// <param name="Versions">Versions of what ran (gputel, libtorch, .NET).</param>
/// <param name="Process">
/// The process writing the record, so a reader can tell a run still going from one cut off; null
/// in records written before this field existed.
/// </param>
public sealed record RunInfo(
    string RunId,
    string Model,
    string Method,
    string Dtype,
    ComputeDevice Device,
    DateTimeOffset StartTime,
    IReadOnlyDictionary<string, string> Settings,
    IReadOnlyDictionary<string, string> Versions,
    RunProcess? Process = null);
