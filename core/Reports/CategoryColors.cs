namespace Gputel.Core.Reports;

/// <summary>One colour per category, the same in the HTML chart and the PNG.</summary>
internal static class CategoryColors
{
    public const string Line = "#1f1f1f";

    public static string Of(string category) => category switch
    {
        "weights" => "#4e79a7",
        "gradients" => "#f28e2b",
        "optimizer_state" => "#e15759",
        "activations" => "#76b7b2",
        "temporary" => "#edc948",
        "inputs" => "#59a14f",
        "allocator_cache" => "#af7aa1",
        "runtime" => "#9c755f",
        "unattributed" => "#bab0ac",
        _ => "#ff9da7",
    };
}
