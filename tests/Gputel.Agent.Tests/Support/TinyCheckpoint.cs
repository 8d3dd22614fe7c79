using Gputel.Core.Checkpoints;
using Gputel.Profiler.Checkpoints;

namespace Gputel.Tests.Support;

/// <summary>
/// A two-layer Llama checkpoint directory (config.json + model.safetensors, every weight zero),
/// written without libtorch so the test process need not load it.
/// </summary>
internal static class TinyCheckpoint
{
    private const string Config = """
        {"architectures": ["LlamaForCausalLM"], "vocab_size": 512, "hidden_size": 64, "intermediate_size": 176,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
         "tie_word_embeddings": true}
        """;

    /// <summary>Writes the checkpoint; <paramref name="edit"/> may change the tensor list (name, shape) first.</summary>
    public static void Write(string directory, Action<List<(string Name, long[] Shape)>>? edit = null)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), Config);
        var tensors = new List<(string Name, long[] Shape)> { ("model.embed_tokens.weight", [512, 64]), ("model.norm.weight", [64]) };
        for (int layer = 0; layer < 2; layer++)
        {
            string prefix = $"model.layers.{layer}.";
            tensors.AddRange([
                (prefix + "self_attn.q_proj.weight", [64, 64]), (prefix + "self_attn.k_proj.weight", [32, 64]),
                (prefix + "self_attn.v_proj.weight", [32, 64]), (prefix + "self_attn.o_proj.weight", [64, 64]),
                (prefix + "mlp.gate_proj.weight", [176, 64]), (prefix + "mlp.up_proj.weight", [176, 64]),
                (prefix + "mlp.down_proj.weight", [64, 176]),
                (prefix + "input_layernorm.weight", [64]), (prefix + "post_attention_layernorm.weight", [64]),
            ]);
        }

        edit?.Invoke(tensors);
        SafetensorsWriter.Write(Path.Combine(directory, CheckpointDirectory.SingleFileName),
            tensors.Select(t => (t.Item1, SafetensorsDType.F32, t.Item2, (ReadOnlyMemory<byte>)new byte[t.Item2.Aggregate(4L, (n, d) => n * d)])));
    }
}
