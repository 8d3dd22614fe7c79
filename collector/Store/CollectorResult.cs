using Gputel.Collector.Model;

namespace Gputel.Collector.Store;

/// <summary>What one run of one collector for one device produced.</summary>
/// <param name="Readings">The values, in base units.</param>
/// <param name="Processes">Per-process rows (process collector only).</param>
/// <param name="Success">False when the whole run failed (an exception); a run in which only some readings failed still succeeded, see <paramref name="FailedReadings"/>.</param>
/// <param name="DurationSeconds">How long the run took.</param>
/// <param name="CompletedAt">When it finished (<see cref="Environment.TickCount64"/> milliseconds).</param>
/// <param name="Error">The failure, for logs.</param>
/// <param name="FailedReadings">Readings of this run that failed while the others were served (an NVML error other than "no data").</param>
public sealed record CollectorResult(
    IReadOnlyList<Reading> Readings,
    IReadOnlyList<ProcessReading> Processes,
    bool Success,
    double DurationSeconds,
    long CompletedAt,
    string? Error,
    int FailedReadings = 0)
{
    /// <summary>True when the run completed and none of its readings failed.</summary>
    public bool Complete => Success && FailedReadings == 0;

    /// <summary>An empty successful result, for a run that found nothing to report.</summary>
    public static CollectorResult Empty(long completedAt) => new([], [], true, 0, completedAt, null);
}
