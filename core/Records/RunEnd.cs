namespace Gputel.Core.Records;

/// <summary>
/// Written to <c>end.json</c>, atomically, when a run finishes its loop: a record without it was
/// cut off or is still being written.
/// </summary>
/// <param name="EndTime">When the run ended (UTC).</param>
/// <param name="StepsCompleted">Optimizer steps completed and recorded.</param>
/// <param name="StepsPlanned">Optimizer steps the run was asked for.</param>
/// <param name="Cancelled">True when the run was stopped (Ctrl-C) before its planned steps.</param>
/// <param name="Error">
/// Why the run failed (where, the exception's type and first line: a CUDA out-of-memory error,
/// most often), or null where it did not. The steps before it, and the failing step's phases up to
/// the one that failed, are in <c>steps.jsonl</c>.
/// </param>
public sealed record RunEnd(DateTimeOffset EndTime, int StepsCompleted, int StepsPlanned, bool Cancelled, string? Error = null);
