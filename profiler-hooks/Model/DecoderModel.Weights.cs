using Gputel.Core.Checkpoints;
using Gputel.Profiler.Checkpoints;
using static TorchSharp.torch;

namespace Gputel.Profiler.Model;

/// <content>Loading a checkpoint by Hugging Face parameter name.</content>
public sealed partial class DecoderModel
{
    /// <summary>
    /// Copies every base parameter from the Hugging Face checkpoint (single-file or sharded
    /// safetensors) in <paramref name="directory"/>, as <see cref="LoadWeights"/> does: floating-point
    /// tensors of another dtype are converted to the model's. Tensors are read one at a time and each
    /// is freed once copied, so host memory peaks at the model plus its largest tensor, not plus a
    /// second copy of the checkpoint.
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// A tensor is missing, has the wrong shape, or is not floating-point, or the checkpoint holds a
    /// tensor the model has no parameter for (checked first, from the headers); the message names the first.
    /// </exception>
    /// <exception cref="SafetensorsException">A checkpoint file is malformed.</exception>
    /// <exception cref="FileNotFoundException">The directory holds no checkpoint.</exception>
    public WeightLoad LoadCheckpoint(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        using CheckpointDirectory checkpoint = CheckpointDirectory.Open(directory);
        RefuseUnknownTensors(checkpoint.Names);
        return LoadWeights(name => checkpoint.TryGet(name, out _) ? checkpoint.ToTensor(name) : null, disposeLoaded: true);
    }

    /// <summary>
    /// Copies every base parameter from <paramref name="lookup"/>, which returns the checkpoint tensor
    /// of a Hugging Face name (e.g. <c>model.layers.0.self_attn.q_proj.weight</c>) or null when absent.
    /// A floating-point tensor of another dtype is converted to the parameter's while it is copied, as
    /// transformers does when loading with <c>torch_dtype</c> (bf16 to fp32 is exact; fp32 to bf16
    /// rounds). LoRA adapters are not looked up: they start fresh. A tied model has no
    /// <c>lm_head.weight</c>.
    /// </summary>
    /// <param name="lookup">The checkpoint tensor of a name, or null when the checkpoint lacks it.</param>
    /// <param name="disposeLoaded">
    /// Dispose each tensor <paramref name="lookup"/> returns as soon as it is copied (or refused): for
    /// a lookup that reads a fresh tensor per call, so that only one is alive at a time.
    /// </param>
    /// <exception cref="InvalidDataException">A tensor is missing, has the wrong shape, or holds data that is not floating-point where the parameter is (or the reverse); the message names it.</exception>
    public WeightLoad LoadWeights(Func<string, Tensor?> lookup, bool disposeLoaded = false)
    {
        ArgumentNullException.ThrowIfNull(lookup);
        int copied = 0;
        var convertedFrom = new List<ScalarType>();
        using var noGrad = no_grad();
        foreach (var (name, parameter) in named_parameters())
        {
            if (IsLoraAdapter(name))
            {
                continue;
            }

            var source = lookup(name) ?? throw new InvalidDataException($"Checkpoint has no tensor '{name}'.");
            try
            {
                if (!source.shape.SequenceEqual(parameter.shape))
                {
                    throw new InvalidDataException(
                        $"Checkpoint tensor '{name}' has shape [{string.Join(", ", source.shape)}]; the model expects [{string.Join(", ", parameter.shape)}].");
                }

                if (source.dtype != parameter.dtype)
                {
                    // Integers (or booleans) where weights belong are not a precision to convert
                    // from but a different kind of data: a quantized or mislabelled checkpoint.
                    if (!source.is_floating_point() || !parameter.is_floating_point())
                    {
                        throw new InvalidDataException(
                            $"Checkpoint tensor '{name}' is {source.dtype}; the model's parameter is {parameter.dtype}, and only floating-point tensors are converted.");
                    }

                    if (!convertedFrom.Contains(source.dtype))
                    {
                        convertedFrom.Add(source.dtype);
                    }
                }

                // copy_ converts element by element into the parameter's storage: no converted
                // copy of the tensor is made.
                parameter.copy_(source);
            }
            finally
            {
                if (disposeLoaded)
                {
                    source.Dispose();
                }
            }

            copied++;
        }

        return new WeightLoad(copied, convertedFrom);
    }

    /// <summary>
    /// Throws for the first checkpoint tensor that has no parameter here. Loading only what the model
    /// asks for would otherwise drop such tensors silently and train another model than the
    /// checkpoint's: a Llama checkpoint with attention biases its config.json does not declare, more
    /// layers than it says, or another architecture's names. Rotary frequency buffers (older Llama
    /// exports save them; they are computed, not learned) and a tied model's copy of the embedding
    /// as <c>lm_head.weight</c> carry nothing of their own and are let through.
    /// </summary>
    private void RefuseUnknownTensors(IEnumerable<string> names)
    {
        var parameters = named_parameters().Select(p => p.name).ToHashSet(StringComparer.Ordinal);
        foreach (string name in names)
        {
            bool derived = name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)
                || (name == "lm_head.weight" && Shape.TiedEmbeddings);
            if (!derived && !parameters.Contains(name))
            {
                throw new InvalidDataException(
                    $"Checkpoint tensor '{name}' has no parameter in the model its config.json describes: the checkpoint is of another architecture, or config.json does not match it.");
            }
        }
    }

    private static bool IsLoraAdapter(string name) =>
        name.Contains(".lora_A.", StringComparison.Ordinal) || name.Contains(".lora_B.", StringComparison.Ordinal);
}
