using System.Text.Json.Serialization;

namespace Gputel.Core.Training;

/// <summary>
/// A phase of a training step, as records, metrics (label <c>phase</c>) and reports name it. A value
/// prints as its snake_case name (<see cref="Name"/>) wherever it is shown, and is written to files
/// by that name; a record line with any other name is damaged, not a new phase.
/// </summary>
[JsonConverter(typeof(NamedValueJsonConverter<Phase>))]
public readonly record struct Phase : INamedValue<Phase>
{
    private static readonly string[] Names = ["forward", "backward", "optimizer_step", "zero_grad"];

    private readonly int _index;

    private Phase(int index) => _index = index;

    /// <summary>The forward pass and the loss.</summary>
    public static Phase Forward { get; } = new(0);

    /// <summary>The backward pass: gradients replace the activations they consume.</summary>
    public static Phase Backward { get; } = new(1);

    /// <summary>The optimizer's update of the trainable parameters.</summary>
    public static Phase OptimizerStep { get; } = new(2);

    /// <summary>Gradients set to none for the next step.</summary>
    public static Phase ZeroGrad { get; } = new(3);

    /// <summary>Every phase, in the order a step runs them.</summary>
    public static IReadOnlyList<Phase> All { get; } = [Forward, Backward, OptimizerStep, ZeroGrad];

    /// <summary>The snake_case name, e.g. <c>optimizer_step</c>.</summary>
    public string Name => Names[_index];

    /// <summary>The position in a step, from 0 for forward (the order of <see cref="All"/>).</summary>
    public int Index => _index;

    /// <summary>
    /// Whether the phase begins where the phase recorded before it in the same step ended, with
    /// nothing allocated in between: every phase of the reference loop but forward, which begins
    /// after a new batch is made (the phases the loop opens with <c>continuesLast</c>).
    /// </summary>
    public bool BeginsWhereLastEnded => _index != 0;

    /// <inheritdoc />
    public static string Expected => string.Join(", ", Names);

    /// <summary>The phase named <paramref name="name"/> (snake_case, exact), or false.</summary>
    public static bool TryParse(string? name, out Phase phase)
    {
        int index = name is null ? -1 : Array.IndexOf(Names, name);
        phase = new Phase(Math.Max(index, 0));
        return index >= 0;
    }

    /// <summary>The phase named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No phase has that name; the message lists the names.</exception>
    public static Phase Parse(string name) => TryParse(name, out Phase phase)
        ? phase
        : throw new ArgumentException($"invalid phase '{name}': expected {Expected}");

    /// <inheritdoc />
    public override string ToString() => Name;
}
