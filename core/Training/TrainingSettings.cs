using System.Globalization;
using Gputel.Core.Model;

namespace Gputel.Core.Training;

/// <summary>The limits and checks <c>gputel finetune</c> and <c>gputel estimate</c> share.</summary>
public static class TrainingSettings
{
    /// <summary>
    /// The shortest cutoff length that trains anything: the loss predicts each token from those
    /// before it, so a sequence of one token has nothing to predict (a NaN loss).
    /// </summary>
    public const int MinimumCutoffLength = 2;

    /// <summary>
    /// The checks <c>gputel estimate</c> makes too, on the settings it shares with a run: gradient
    /// accumulation, LoRA rank and dropout, named and worded as both commands' options.
    /// </summary>
    /// <exception cref="ArgumentException">A setting is out of range; the message names it and its value.</exception>
    public static void ValidateShared(LoraSettings lora, int gradientAccumulation)
    {
        ArgumentNullException.ThrowIfNull(lora);
        Require(gradientAccumulation > 0, "gradient-accumulation", gradientAccumulation, "must be a positive number");
        Require(lora.Rank > 0, "lora-rank", lora.Rank, "must be a positive number");
        Require(lora.Dropout is >= 0 and < 1, "lora-dropout", lora.Dropout, "must be at least 0 and below 1");
    }

    /// <summary>Throws <see cref="ArgumentException"/> worded as the commands' options are: <c>invalid NAME 'VALUE': REQUIREMENT</c>.</summary>
    public static void Require(bool valid, string name, object value, string requirement)
    {
        if (!valid)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"invalid {name} '{value}': {requirement}"));
        }
    }
}
