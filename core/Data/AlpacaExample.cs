namespace Gputel.Core.Data;

/// <summary>One supervised example in the Alpaca format (<c>instruction</c>, optional <c>input</c>, <c>output</c>).</summary>
/// <param name="Instruction">The task.</param>
/// <param name="Input">Extra context; empty when absent.</param>
/// <param name="Output">The answer the model learns to produce.</param>
public sealed record AlpacaExample(string Instruction, string Input, string Output)
{
    /// <summary>The prompt text the model is conditioned on (the part whose tokens are not trained on).</summary>
    public string Prompt => Input.Length == 0
        ? $"### Instruction:\n{Instruction}\n\n### Response:\n"
        : $"### Instruction:\n{Instruction}\n\n### Input:\n{Input}\n\n### Response:\n";
}
