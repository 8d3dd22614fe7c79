using System.Text.Json;

namespace Gputel.Core.Model;

/// <content>Reading a Hugging Face config.json.</content>
public sealed partial record ModelShape
{
    private const string Qwen2Architecture = "Qwen2ForCausalLM";
    private const string LlamaArchitecture = "LlamaForCausalLM";
    private const string Qwen3Architecture = "Qwen3ForCausalLM";
    private const string Qwen2VLArchitecture = "Qwen2VLForConditionalGeneration";
    private const string Qwen25VLArchitecture = "Qwen2_5_VLForConditionalGeneration";

    private static VisionTower ReadVision(string path, JsonElement root, string architecture, long languageHidden)
    {
        if (!root.TryGetProperty("vision_config", out JsonElement element) || element.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"{path}: field 'vision_config' is missing or not an object.");
        }

        var v = new ConfigReader(path, element, "vision_config.");
        if (architecture == Qwen2VLArchitecture)
        {
            long width = v.PositiveLong("embed_dim");
            return new VisionTower(
                VisionBlockKind.Qwen2VL,
                (int)v.PositiveLong("depth"),
                width,
                (long)(width * v.OptionalPositiveDouble("mlp_ratio", 4)),
                v.OptionalPositiveLong("hidden_size", languageHidden),
                v.OptionalPositiveLong("patch_size", 14),
                v.OptionalPositiveLong("temporal_patch_size", 2),
                v.OptionalPositiveLong("in_chans", v.OptionalPositiveLong("in_channels", 3)),
                v.OptionalPositiveLong("spatial_merge_size", 2));
        }

        return new VisionTower(
            VisionBlockKind.Qwen25VL,
            (int)v.PositiveLong("depth"),
            v.PositiveLong("hidden_size"),
            v.PositiveLong("intermediate_size"),
            v.OptionalPositiveLong("out_hidden_size", languageHidden),
            v.OptionalPositiveLong("patch_size", 14),
            v.OptionalPositiveLong("temporal_patch_size", 2),
            v.OptionalPositiveLong("in_chans", v.OptionalPositiveLong("in_channels", 3)),
            v.OptionalPositiveLong("spatial_merge_size", 2));
    }

    /// <summary>
    /// Reads the shape from a Hugging Face <c>config.json</c> of a <c>Qwen2ForCausalLM</c>,
    /// <c>LlamaForCausalLM</c> (Llama 2 and 3), <c>Qwen3ForCausalLM</c> (query/key norms),
    /// <c>Qwen2VLForConditionalGeneration</c> or <c>Qwen2_5_VLForConditionalGeneration</c> (with the
    /// vision tower of <c>vision_config</c>) model. Optional fields take the Hugging Face defaults of
    /// that architecture. <c>rope_scaling</c> is not read: it changes rotary frequencies, not shapes
    /// or memory. Mixture-of-experts configurations are refused.
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

            JsonElement root = document.RootElement;
            var top = new ConfigReader(path, root);
            if (root.TryGetProperty("architectures", out JsonElement named) && named.GetRawText().Contains("Moe", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidDataException($"{path}: mixture-of-experts models ({named.GetRawText()}) are not modelled.");
            }

            string architecture = top.Architecture(Qwen2Architecture, LlamaArchitecture, Qwen3Architecture, Qwen2VLArchitecture, Qwen25VLArchitecture);
            // Newer transformers write a vision-language model's language half under text_config.
            bool vision = architecture is Qwen2VLArchitecture or Qwen25VLArchitecture;
            var config = vision && root.TryGetProperty("text_config", out JsonElement text) && text.ValueKind == JsonValueKind.Object
                ? new ConfigReader(path, text, "text_config.", root)
                : top;
            if (config.OptionalPositiveLong("num_experts", 1) > 1 || config.OptionalPositiveLong("num_local_experts", 1) > 1)
            {
                throw new InvalidDataException($"{path}: mixture-of-experts models are not modelled (num_experts > 1).");
            }

            bool qwen3 = architecture == Qwen3Architecture;
            bool qwen2Layout = architecture is Qwen2Architecture or Qwen2VLArchitecture or Qwen25VLArchitecture;
            if (architecture == LlamaArchitecture && (config.OptionalBool("attention_bias", false) || config.OptionalBool("mlp_bias", false)))
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
                MaxPositions: config.OptionalPositiveLong("max_position_embeddings", qwen2Layout || qwen3 ? 32_768 : 2048),
                RopeTheta: config.OptionalPositiveDouble("rope_theta", 10_000),
                RmsNormEps: config.OptionalPositiveDouble("rms_norm_eps", 1e-6),
                TiedEmbeddings: config.OptionalBool("tie_word_embeddings", false),
                // Qwen2 always has q/k/v biases (the config has no field for it); Qwen3 only with attention_bias.
                AttentionBias: qwen2Layout || (qwen3 && config.OptionalBool("attention_bias", false)),
                QkNorm: qwen3,
                Vision: vision ? ReadVision(path, root, architecture, hidden) : null);
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
    private readonly struct ConfigReader(string path, JsonElement root, string prefix = "", JsonElement? outer = null)
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
        // A nested text_config's optional fields may sit at the top level instead (rope_theta, ...).
        private bool Present(string field, out JsonElement value) =>
            (root.TryGetProperty(field, out value) && value.ValueKind != JsonValueKind.Null)
            || (outer is { } top && top.TryGetProperty(field, out value) && value.ValueKind != JsonValueKind.Null);

        private long ToPositiveLong(string field, JsonElement value) =>
            value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out long number) && number > 0
                ? number
                : throw Invalid(field, $"= {value.GetRawText()} is not a positive integer");

        private InvalidDataException Invalid(string field, string problem) => new($"{path}: field '{prefix}{field}' {problem}.");
    }
}
