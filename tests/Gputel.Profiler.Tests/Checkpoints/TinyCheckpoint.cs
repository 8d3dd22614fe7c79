using Gputel.Core.Model;
using Gputel.Profiler.Checkpoints;
using Gputel.Profiler.Model;
using static TorchSharp.torch;

namespace Gputel.Profiler.Tests.Checkpoints;

/// <summary>A Hugging Face checkpoint directory of <see cref="ModelShape.Tiny"/>: config.json and model.safetensors.</summary>
internal static class TinyCheckpoint
{
    // ModelShape.Tiny as config.json says it.
    private const string Config = """
        {"architectures": ["Qwen2ForCausalLM"], "vocab_size": 512, "hidden_size": 64, "intermediate_size": 176,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
         "rope_theta": 10000.0, "rms_norm_eps": 1e-06, "tie_word_embeddings": false}
        """;

    /// <summary>
    /// Writes a freshly initialised model's weights, converted to <paramref name="dtype"/>, into
    /// <paramref name="directory"/> and returns them by name (in that dtype; the caller disposes them).
    /// </summary>
    public static Dictionary<string, Tensor> Write(string directory, ScalarType dtype, long seed = 7)
    {
        File.WriteAllText(Path.Combine(directory, "config.json"), Config);
        manual_seed(seed);
        using var source = new DecoderModel(ModelShape.Tiny);
        var weights = source.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().to(dtype));
        SafetensorsWriter.Write(Path.Combine(directory, CheckpointDirectory.SingleFileName), weights.Select(w => (w.Key, w.Value)), new Dictionary<string, string> { ["format"] = "pt" });
        return weights;
    }
}
