namespace Gputel.Core.Training;

/// <summary>The optimizer.</summary>
public enum OptimizerKind
{
    /// <summary>AdamW: two moments per trainable parameter.</summary>
    AdamW,
    /// <summary>SGD with momentum: one buffer per trainable parameter.</summary>
    Sgd,
}
