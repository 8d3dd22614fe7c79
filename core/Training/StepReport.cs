using Gputel.Core.Memory;

namespace Gputel.Core.Training;

/// <summary>What one completed optimizer step reports to a progress display.</summary>
/// <param name="Step">Step index, from 0.</param>
/// <param name="Steps">Total steps of the run.</param>
/// <param name="Loss">Mean loss over the step's micro-batches.</param>
/// <param name="Seconds">Duration of the step.</param>
/// <param name="TokensPerSecond">Input tokens processed per second in this step.</param>
/// <param name="Peak">The phase snapshot with the highest peak in this step.</param>
/// <param name="BytesAtPeak">
/// Bytes per category at that peak (indexed by <see cref="MemoryCategory"/>, see
/// <see cref="MemorySnapshot.BytesAtPeak"/>): where the peak is backward's, the activations it
/// began with rather than the gradients it ended with.
/// </param>
public sealed record StepReport(int Step, int Steps, double Loss, double Seconds, double TokensPerSecond, MemorySnapshot Peak, IReadOnlyList<long> BytesAtPeak);
