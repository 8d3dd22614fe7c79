using System.Collections;
using TorchSharp.Modules;

namespace Gputel.Profiler.Training;

/// <summary>
/// The trainable parameters as an optimizer's parameter group, calling <paramref name="probe"/>
/// each time an enumeration reaches the end. TorchSharp's managed optimizers walk the group inside
/// one dispose scope and free every temporary (AdamW: sqrt(v) and its quotient for each
/// parameter) only after the walk, so the end of the walk is the optimizer step's exact peak; a
/// sampler polling every few milliseconds would miss part of it. <paramref name="begin"/> is called
/// as a walk starts, before the first temporary: the figure the temporaries rise from.
/// </summary>
internal sealed class PeakProbeParameters(IReadOnlyList<Parameter> parameters, Action probe, Action? begin = null) : IEnumerable<Parameter>
{
    public IEnumerator<Parameter> GetEnumerator()
    {
        begin?.Invoke();
        foreach (Parameter parameter in parameters)
        {
            yield return parameter;
        }

        probe();
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
