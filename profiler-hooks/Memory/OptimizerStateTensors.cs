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
