using System.Reflection;
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
    public static IEnumerable<Tensor> Of(OptimizerHelper optimizer) => Of(optimizer, fromTable: true);

    /// <summary>Whether this TorchSharp's optimizers keep the state table read here (else <c>state_dict()</c> is).</summary>
    internal static bool ReadsStateTable => StateTable is not null;

    /// <summary>The state tensors, read from the optimizer's table or, with <paramref name="fromTable"/> off, through <c>state_dict()</c>.</summary>
    internal static IEnumerable<Tensor> Of(OptimizerHelper optimizer, bool fromTable)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        foreach (OptimizerState state in States(optimizer, fromTable))
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

    // The optimizer's own table of per-parameter state, in the order parameters were added.
    // state_dict() builds a fresh dictionary with lists for every call, looking each parameter up by
    // handle: most of what listing the state cost at each optimizer step's end.
    private static readonly FieldInfo? StateTable =
        typeof(OptimizerHelper).GetField("_state", BindingFlags.NonPublic | BindingFlags.Instance) is { } field
        && field.FieldType == typeof(TorchSharp.Utils.OrderedDict<IntPtr, OptimizerState>) ? field : null;

    /// <summary>Each parameter's state object, read from the optimizer's table where this TorchSharp has it.</summary>
    private static IEnumerable<OptimizerState> States(OptimizerHelper optimizer, bool fromTable)
    {
        if (fromTable && StateTable?.GetValue(optimizer) is TorchSharp.Utils.OrderedDict<IntPtr, OptimizerState> table)
        {
            for (int i = 0; i < table.Count; i++)
            {
                yield return table[i].Item2;
            }

            yield break;
        }

        foreach (OptimizerState state in optimizer.state_dict().State)
        {
            yield return state;
        }
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, FieldInfo[]> Fields = new();

    // Reflection once per state type: listing fields on every phase end cost more than counting.
    private static FieldInfo[] TensorFields(Type type) => Fields.GetOrAdd(type, static t =>
        t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)
            .Where(f => typeof(Tensor).IsAssignableFrom(f.FieldType) && !typeof(Parameter).IsAssignableFrom(f.FieldType))
            .ToArray());
}
