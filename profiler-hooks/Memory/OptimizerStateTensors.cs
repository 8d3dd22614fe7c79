using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gputel.Profiler.Memory;

/// <summary>
/// The tensors an optimizer holds as state (Adam/AdamW moments, SGD momentum buffers). TorchSharp
/// keeps them as fields of per-parameter state objects (<c>state_dict().State</c>, live objects: do
/// not dispose them); their parameter reference is left out, since it belongs to the weights.
/// </summary>
public static class OptimizerStateTensors
{
    /// <summary>Lists the state tensors of <paramref name="optimizer"/> as they are now.</summary>
    public static IEnumerable<Tensor> Of(OptimizerHelper optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        foreach (OptimizerState state in optimizer.state_dict().State)
        {
            // The optimizers a fine-tuning run uses are read directly: this runs at the end of every
            // optimizer step, with the caches cold, and field reflection cost a microsecond a state.
            switch (state)
            {
                case AdamW.State adamW:
                    yield return adamW.exp_avg;
                    yield return adamW.exp_avg_sq;
                    if (adamW.max_exp_avg_sq is { } adamWMax)
                    {
                        yield return adamWMax;
                    }

                    continue;
                case Adam.State adam:
                    yield return adam.exp_avg;
                    yield return adam.exp_avg_sq;
                    if (adam.max_exp_avg_sq is { } adamMax)
                    {
                        yield return adamMax;
                    }

                    continue;
                case SGD.State sgd:
                    if (sgd.momentum_buffer is { } momentum)
                    {
                        yield return momentum;
                    }

                    continue;
            }

            foreach (FieldInfo field in TensorFields(state.GetType()))
            {
                if (field.GetValue(state) is Tensor tensor and not Parameter)
                {
                    yield return tensor;
                }
            }
        }
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, FieldInfo[]> Fields = new();

    // Reflection once per state type: listing fields on every phase end cost more than counting.
    private static FieldInfo[] TensorFields(Type type) => Fields.GetOrAdd(type, static t =>
        t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)
            .Where(f => typeof(Tensor).IsAssignableFrom(f.FieldType) && !typeof(Parameter).IsAssignableFrom(f.FieldType))
            .ToArray());
}
