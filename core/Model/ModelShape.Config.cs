using System.Text.Json;

namespace Gputel.Core.Model;

/// <content>Reading a Hugging Face config.json.</content>
public sealed partial record ModelShape
{
    private const string Qwen2Architecture = "Qwen2ForCausalLM";
    private const string LlamaArchitecture = "LlamaForCausalLM";

    /// <summary>
    /// Reads the shape from a Hugging Face <c>config.json</c> of a <c>Qwen2ForCausalLM</c> or
    /// <c>LlamaForCausalLM</c> model. Optional fields take the Hugging Face defaults of that
    /// architecture. <c>rope_scaling</c> is not read: it changes rotary frequencies, not shapes or memory.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not valid JSON, or a field is missing, mistyped or out of range; the message names the file and field.</exception>
    public static ModelShape FromConfigJson(string path)
    {
        using var stream = File.OpenRead(path);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(stream);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{path}: expected a JSON object, found {document.RootElement.ValueKind.ToString().ToLowerInvariant()}.");
            }

            var config = new ConfigReader(path, document.RootElement);
            bool qwen2 = config.Architecture(Qwen2Architecture, LlamaArchitecture) == Qwen2Architecture;
            if (!qwen2 && (config.OptionalBool("attention_bias", false) || config.OptionalBool("mlp_bias", false)))
            {
                // Llama's attention_bias also puts a bias on o_proj, and mlp_bias on the MLP: not modelled here.
                throw new InvalidDataException($"{path}: Llama 'attention_bias'/'mlp_bias' = true is not supported.");
            }

            long hidden = config.PositiveLong("hidden_size");
            int heads = (int)config.PositiveLong("num_attention_heads");
            var shape = new ModelShape(
                VocabSize: config.PositiveLong("vocab_size"),
                HiddenSize: hidden,
                IntermediateSize: config.PositiveLong("intermediate_size"),
                Layers: (int)config.PositiveLong("num_hidden_layers"),
                AttentionHeads: heads,
                KeyValueHeads: (int)config.OptionalPositiveLong("num_key_value_heads", heads),
                HeadDim: config.OptionalPositiveLong("head_dim", hidden / heads),
                MaxPositions: config.OptionalPositiveLong("max_position_embeddings", qwen2 ? 32_768 : 2048),
                RopeTheta: config.OptionalPositiveDouble("rope_theta", 10_000),
                RmsNormEps: config.OptionalPositiveDouble("rms_norm_eps", 1e-6),
                TiedEmbeddings: config.OptionalBool("tie_word_embeddings", false),
                // Qwen2 always has q/k/v biases; the config has no field for it.
                AttentionBias: qwen2);
            try
            {
                shape.Validate();
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"{path}: {e.Message}", e);
            }
            return shape;
        }
    }

    /// <summary>Typed access to config.json fields with errors that name the file and field.</summary>
    private readonly struct ConfigReader(string path, JsonElement root)
    {
        public string Architecture(params string[] supported)
        {
            if (!root.TryGetProperty("architectures", out var list) || list.ValueKind != JsonValueKind.Array)
            {
                throw Invalid("architectures", "is missing or not an array");
            }
            foreach (var item in list.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.String && supported.Contains(item.GetString()))
                {
                    return item.GetString()!;
                }
            }
            throw Invalid("architectures", $"= {list.GetRawText()} names none of {string.Join(", ", supported)}");
        }

        public long PositiveLong(string field) =>
            root.TryGetProperty(field, out var value) ? ToPositiveLong(field, value) : throw Invalid(field, "is missing");

        public long OptionalPositiveLong(string field, long fallback) =>
            Present(field, out var value) ? ToPositiveLong(field, value) : fallback;

        public double OptionalPositiveDouble(string field, double fallback)
        {
            if (!Present(field, out var value))
            {
                return fallback;
            }
            return value.ValueKind == JsonValueKind.Number && value.GetDouble() > 0
                ? value.GetDouble()
                : throw Invalid(field, $"= {value.GetRawText()} is not a positive number");
        }

        public bool OptionalBool(string field, bool fallback)
        {
            if (!Present(field, out var value))
            {
                return fallback;
            }
            return value.ValueKind is JsonValueKind.True or JsonValueKind.False
                ? value.GetBoolean()
                : throw Invalid(field, $"= {value.GetRawText()} is not true or false");
        }

        // JSON null counts as absent, as Hugging Face treats it (e.g. "head_dim": null).
        private bool Present(string field, out JsonElement value) =>
            root.TryGetProperty(field, out value) && value.ValueKind != JsonValueKind.Null;

        private long ToPositiveLong(string field, JsonElement value) =>
            value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out long number) && number > 0
                ? number
                : throw Invalid(field, $"= {value.GetRawText()} is not a positive integer");

        private InvalidDataException Invalid(string field, string problem) => new($"{path}: field '{field}' {problem}.");
    }
}
