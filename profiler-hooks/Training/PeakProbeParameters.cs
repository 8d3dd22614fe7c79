using System.Collections;
using TorchSharp.Modules;

namespace Gputel.Profiler.Training;

/// <summary>
/// The trainable parameters as an optimizer's parameter group, calling <paramref name="probe"/>
/// each time an enumeration reaches the end. TorchSharp's managed optimizers walk the group inside
/// one dispose scope and free every temporary (AdamW: sqrt(v) and its quotient for each
/// parameter) only after the walk, so the end of the walk is the optimizer step's exact peak; a
/// sampler polling every few milliseconds would miss part of it. <paramref name="begin"/> is called
/// as a walk starts, before the first temporary: the figure the temporaries rise from. Both fire only
/// while <see cref="Armed"/>: other code walks the group too (listing the optimizer's state does).
/// </summary>
internal sealed class PeakProbeParameters(IReadOnlyList<Parameter> parameters, Action probe, Action? begin = null) : IEnumerable<Parameter>
{
    /// <summary>Set around <c>optimizer.step()</c>, so only the optimizer's own walk is probed.</summary>
    public bool Armed { get; set; }

    public IEnumerator<Parameter> GetEnumerator()
    {
        bool armed = Armed;
        if (armed)
        {
            begin?.Invoke();
        }

        foreach (Parameter parameter in parameters)
        {
            yield return parameter;
        }

        if (armed)
        {
            probe();
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
