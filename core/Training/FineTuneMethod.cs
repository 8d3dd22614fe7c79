namespace Gputel.Core.Training;

/// <summary>How the model is fine-tuned.</summary>
public enum FineTuneMethod
{
    /// <summary>Every parameter trains.</summary>
    Full,
    /// <summary>Only the last N decoder layers train.</summary>
    Freeze,
    /// <summary>Low-rank adapters train; the base model is frozen.</summary>
    Lora,
}
