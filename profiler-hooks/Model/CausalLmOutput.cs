using static TorchSharp.torch;

namespace Gputel.Profiler.Model;

/// <summary>What a forward pass returns.</summary>
/// <param name="Logits">Next-token logits [batch, seq, vocab] in the model's dtype.</param>
/// <param name="Loss">Mean causal-LM cross-entropy (fp32 scalar) when labels were given.</param>
public sealed record CausalLmOutput(Tensor Logits, Tensor? Loss);
