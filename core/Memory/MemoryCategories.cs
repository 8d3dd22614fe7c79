namespace Gputel.Core.Memory;

/// <summary>Everything shown of one <see cref="MemoryCategory"/>: one row of <see cref="MemoryCategories.Table"/>.</summary>
/// <param name="Category">The category.</param>
/// <param name="Name">The snake_case name metrics, records and reports use, e.g. <c>optimizer_state</c>.</param>
/// <param name="Label">The short label of narrow displays (the progress line), e.g. <c>optimizer</c>.</param>
/// <param name="Colour">The colour of its band in every chart (HTML and PNG), as <c>#rrggbb</c>.</param>
/// <param name="StackOrder">Its place in a stacked chart, 0 at the bottom: model state first, what a phase frees on top.</param>
/// <param name="Meaning">One line on what it holds, for legends and tables.</param>
/// <param name="InRunRecords">
/// Whether the profiler's run records, gauges and the estimator carry it (the first nine); the
/// others are named only in reports of PyTorch memory snapshots.
/// </param>
public sealed record CategoryInfo(MemoryCategory Category, string Name, string Label, string Colour, int StackOrder, string Meaning, bool InRunRecords = true);

/// <summary>
/// The one table of memory categories: name, label, colour, stack order and meaning. Every list of
/// categories in the project (metrics, records, report rows, chart bands, legends, the estimator's
/// lines, the progress line) is derived from it, so a category is added or changed here alone.
/// </summary>
public static class MemoryCategories
{
    // One row per enum member, in enum order (the index of a category's bytes in records and snapshots);
    // the run records' nine come first. The stack puts model state at the bottom, then what the step
    // holds, then what a phase frees on top, so the bands that change from phase to phase sit above
    // the steady ones.
    private static readonly CategoryInfo[] Rows =
    [
        new(MemoryCategory.Weights, "weights", "weights", "#4e79a7", 0, "parameters and buffers of the model, LoRA adapters included"),
        new(MemoryCategory.Gradients, "gradients", "grads", "#f28e2b", 3, ".grad of trainable parameters"),
        new(MemoryCategory.OptimizerState, "optimizer_state", "optimizer", "#e15759", 4, "optimizer state: Adam moments, momentum buffers, step counters"),
        new(MemoryCategory.Activations, "activations", "activations", "#76b7b2", 7, "tensors saved for backward, alive between forward and backward"),
        new(MemoryCategory.Temporary, "temporary", "temporary", "#edc948", 11, "short-lived buffers inside a phase: its peak above its start"),
        new(MemoryCategory.Inputs, "inputs", "inputs", "#59a14f", 6, "the batch: token ids, masks, labels"),
        new(MemoryCategory.AllocatorCache, "allocator_cache", "cache", "#af7aa1", 9, "reserved by a caching allocator but not in use"),
        new(MemoryCategory.Runtime, "runtime", "runtime", "#9c755f", 8, "CUDA context and library workspaces: memory no allocator reports"),
        new(MemoryCategory.Unattributed, "unattributed", "unattributed", "#bab0ac", 10, "whatever is left after the others; shown, never hidden"),
        new(MemoryCategory.QuantizedWeights, "quantized_weights", "quantized", "#2f4b7c", 1, "weights stored quantized (bitsandbytes 4-bit or 8-bit) with their scales", InRunRecords: false),
        new(MemoryCategory.LoraAdapters, "lora_adapters", "lora", "#86bcb6", 2, "LoRA adapter weights (PEFT)", InRunRecords: false),
        new(MemoryCategory.BeforeRecording, "before_recording", "earlier", "#d4a6c8", 5, "allocated before the snapshot began recording, with no frame to say what it is (weights and optimizer state, usually)", InRunRecords: false),
    ];

    private static readonly Dictionary<string, MemoryCategory> ByName = Rows.ToDictionary(r => r.Name, r => r.Category, StringComparer.Ordinal);

    /// <summary>The colour of a name no row has (a category from a newer record, say).</summary>
    public const string UnknownColour = "#ff9da7";

    /// <summary>Every row, in <see cref="MemoryCategory"/> order.</summary>
    public static IReadOnlyList<CategoryInfo> Table { get; } = Array.AsReadOnly(Rows);

    /// <summary>
    /// The categories run records, gauges and the estimator carry, in <see cref="MemoryCategory"/>
    /// order (the index of their bytes in records); <see cref="Table"/> has the snapshot-only ones too.
    /// </summary>
    public static IReadOnlyList<MemoryCategory> All { get; } = Array.AsReadOnly(Rows.Where(r => r.InRunRecords).Select(r => r.Category).ToArray());

    /// <summary>Every category of <see cref="Table"/> in stack order, bottom first (<see cref="CategoryInfo.StackOrder"/>).</summary>
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
