using static TorchSharp.torch;

namespace Gputel.Profiler.Model;

/// <content>Loading a checkpoint by Hugging Face parameter name.</content>
public sealed partial class DecoderModel
{
    /// <summary>
    /// Copies every base parameter from <paramref name="lookup"/>, which returns the checkpoint tensor
    /// of a Hugging Face name (e.g. <c>model.layers.0.self_attn.q_proj.weight</c>) or null when absent.
    /// LoRA adapters are not looked up: they start fresh. A tied model has no <c>lm_head.weight</c>.
    /// Returns the number of tensors copied.
    /// </summary>
    /// <exception cref="InvalidDataException">A tensor is missing or has the wrong shape or dtype; the message names it.</exception>
    public int LoadWeights(Func<string, Tensor?> lookup)
    {
        ArgumentNullException.ThrowIfNull(lookup);
        int copied = 0;
        using var noGrad = no_grad();
        foreach (var (name, parameter) in named_parameters())
        {
            if (IsLoraAdapter(name))
            {
                continue;
            }
            var source = lookup(name) ?? throw new InvalidDataException($"Checkpoint has no tensor '{name}'.");
            if (!source.shape.SequenceEqual(parameter.shape))
            {
                throw new InvalidDataException(
                    $"Checkpoint tensor '{name}' has shape [{string.Join(", ", source.shape)}]; the model expects [{string.Join(", ", parameter.shape)}].");
            }
            if (source.dtype != parameter.dtype)
            {
                throw new InvalidDataException(
                    $"Checkpoint tensor '{name}' is {source.dtype}; the model's parameter is {parameter.dtype} (convert when reading).");
            }
            parameter.copy_(source);
            copied++;
        }
        return copied;
    }

    private static bool IsLoraAdapter(string name) =>
        name.Contains(".lora_A.", StringComparison.Ordinal) || name.Contains(".lora_B.", StringComparison.Ordinal);
}
