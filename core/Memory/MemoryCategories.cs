namespace Gputel.Core.Memory;

/// <summary>Everything shown of one <see cref="MemoryCategory"/>: one row of <see cref="MemoryCategories.Table"/>.</summary>
/// <param name="Category">The category.</param>
/// <param name="Name">The snake_case name metrics, records and reports use, e.g. <c>optimizer_state</c>.</param>
/// <param name="Label">The short label of narrow displays (the progress line), e.g. <c>optimizer</c>.</param>
/// <param name="Colour">The colour of its band in every chart (HTML and PNG), as <c>#rrggbb</c>.</param>
/// <param name="StackOrder">Its place in a stacked chart, 0 at the bottom: model state first, what a phase frees on top.</param>
/// <param name="Meaning">One line on what it holds, for legends and tables.</param>
public sealed record CategoryInfo(MemoryCategory Category, string Name, string Label, string Colour, int StackOrder, string Meaning);

/// <summary>
/// The one table of memory categories: name, label, colour, stack order and meaning. Every list of
/// categories in the project (metrics, records, report rows, chart bands, legends, the estimator's
/// lines, the progress line) is derived from it, so a category is added or changed here alone.
/// </summary>
public static class MemoryCategories
{
    // One row per enum member, in enum order (the index of a category's bytes in records and snapshots).
    // The stack puts model state at the bottom, then what the step holds, then what a phase frees on
    // top, so the bands that change from phase to phase sit above the steady ones.
    private static readonly CategoryInfo[] Rows =
    [
        new(MemoryCategory.Weights, "weights", "weights", "#4e79a7", 0, "parameters and buffers of the model, LoRA adapters included"),
        new(MemoryCategory.Gradients, "gradients", "grads", "#f28e2b", 1, ".grad of trainable parameters"),
        new(MemoryCategory.OptimizerState, "optimizer_state", "optimizer", "#e15759", 2, "optimizer state: Adam moments, momentum buffers, step counters"),
        new(MemoryCategory.Activations, "activations", "activations", "#76b7b2", 4, "tensors saved for backward, alive between forward and backward"),
        new(MemoryCategory.Temporary, "temporary", "temporary", "#edc948", 8, "short-lived buffers inside a phase: its peak above its start"),
        new(MemoryCategory.Inputs, "inputs", "inputs", "#59a14f", 3, "the batch: token ids, masks, labels"),
        new(MemoryCategory.AllocatorCache, "allocator_cache", "cache", "#af7aa1", 6, "reserved by a caching allocator but not in use"),
        new(MemoryCategory.Runtime, "runtime", "runtime", "#9c755f", 5, "CUDA context and library workspaces: memory no allocator reports"),
        new(MemoryCategory.Unattributed, "unattributed", "unattributed", "#bab0ac", 7, "whatever is left after the others; shown, never hidden"),
    ];

    private static readonly Dictionary<string, MemoryCategory> ByName = Rows.ToDictionary(r => r.Name, r => r.Category, StringComparer.Ordinal);

    /// <summary>The colour of a name no row has (a category from a newer record, say).</summary>
    public const string UnknownColour = "#ff9da7";

    /// <summary>Every row, in <see cref="MemoryCategory"/> order.</summary>
    public static IReadOnlyList<CategoryInfo> Table { get; } = Array.AsReadOnly(Rows);

    /// <summary>All categories in <see cref="MemoryCategory"/> order (the index of their bytes in records).</summary>
    public static IReadOnlyList<MemoryCategory> All { get; } = Array.AsReadOnly(Rows.Select(r => r.Category).ToArray());

    /// <summary>All categories in stack order, bottom first (<see cref="CategoryInfo.StackOrder"/>).</summary>
    public static IReadOnlyList<MemoryCategory> Stacked { get; } = Array.AsReadOnly(Rows.OrderBy(r => r.StackOrder).Select(r => r.Category).ToArray());

    /// <summary>The row of <paramref name="category"/>.</summary>
    public static CategoryInfo Info(this MemoryCategory category) => Rows[(int)category];

    /// <summary>The snake_case name, e.g. <c>optimizer_state</c>.</summary>
    public static string ToName(this MemoryCategory category) => Rows[(int)category].Name;

    /// <summary>The category named <paramref name="name"/> (snake_case, exact), or false for a name no row has.</summary>
    public static bool TryParse(string name, out MemoryCategory category) => ByName.TryGetValue(name, out category);

    /// <summary>The chart colour of the category named <paramref name="name"/>, or <see cref="UnknownColour"/>.</summary>
    public static string ColourOf(string name) => TryParse(name, out MemoryCategory c) ? c.Info().Colour : UnknownColour;
}
