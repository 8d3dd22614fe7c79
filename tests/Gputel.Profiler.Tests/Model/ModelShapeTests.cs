using Gputel.Core.Model;
using Gputel.Profiler.Model;

namespace Gputel.Profiler.Tests.Model;

/// <summary>Analytic parameter counts against real modules and published figures; config.json parsing.</summary>
public sealed class ModelShapeTests
{
    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    public void Analytic_count_equals_the_module_for_tiny_shapes(bool tied, bool attentionBias)
    {
        var shape = ModelShape.Tiny with { TiedEmbeddings = tied, AttentionBias = attentionBias };
        using var model = new DecoderModel(shape);

        long actual = model.parameters().Sum(p => p.numel());
        var counts = shape.ParameterCount();

        Assert.Equal(counts.Total, actual);
        Assert.Equal(counts.PerLayer, model.Layers[0].parameters().Sum(p => p.numel()));
        Assert.Equal(tied ? 0 : counts.Embedding, counts.LmHead);
    }

    [Fact]
    public void A_lora_target_named_twice_counts_once_as_the_model_wraps_it_once()
    {
        var settings = new LoraSettings(4, 8, 0, ["q_proj", "q_proj", "down_proj"]);
        using var model = new DecoderModel(ModelShape.Tiny);

        model.ApplyLora(settings);

        long trainable = model.NamedTrainableParameters().Sum(entry => entry.Parameter.numel());
        Assert.Equal(trainable, ModelShape.Tiny.LoraParameterCount(settings));
    }

    [Fact]
    public void Qwen25_0_5B_count_matches_the_published_figure()
    {
        var counts = ModelShape.Named("qwen2.5-0.5b").ParameterCount();

        Assert.Equal(494_032_768, counts.Total);
        Assert.Equal(136_134_656, counts.Embedding);
        Assert.Equal(14_912_384, counts.PerLayer);
        Assert.Equal(0, counts.LmHead);
    }

    [Fact]
    public void Built_in_names_resolve_and_unknown_names_are_refused()
    {
        foreach (var name in ModelShape.BuiltInNames)
        {
            ModelShape.Named(name).Validate();
        }
        Assert.Equal(28, ModelShape.Named("QWEN2-1.5B").Layers);
        var error = Assert.Throws<ArgumentException>(() => ModelShape.Named("gpt2"));
        Assert.Contains("qwen2-7b", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Qwen2_config_json_reads_as_the_built_in_shape()
    {
        using var file = new TempConfig(Qwen25Config);

        Assert.Equal(ModelShape.Qwen25_0_5B, ModelShape.FromConfigJson(file.Path));
    }

    [Fact]
    public void Llama_config_json_has_no_attention_bias_and_takes_head_dim()
    {
        using var file = new TempConfig("""
            { "architectures": ["LlamaForCausalLM"], "vocab_size": 128256, "hidden_size": 2048,
              "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
              "num_key_value_heads": 8, "head_dim": 64, "max_position_embeddings": 131072,
              "rope_theta": 500000.0, "rms_norm_eps": 1e-05, "tie_word_embeddings": true,
              "attention_bias": false, "rope_scaling": { "rope_type": "llama3", "factor": 32.0 } }
            """);

        var shape = ModelShape.FromConfigJson(file.Path);

        Assert.False(shape.AttentionBias);
        Assert.True(shape.TiedEmbeddings);
        Assert.Equal(64, shape.HeadDim);
        Assert.Equal(4, shape.QueryGroupSize);
    }

    [Fact]
    public void Missing_field_is_named_with_the_file()
    {
        using var file = new TempConfig(Qwen25Config.Replace("\"hidden_size\": 896,", "", StringComparison.Ordinal));

        var error = Assert.Throws<InvalidDataException>(() => ModelShape.FromConfigJson(file.Path));

        Assert.Contains(file.Path, error.Message, StringComparison.Ordinal);
        Assert.Contains("'hidden_size' is missing", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Mistyped_field_and_unsupported_architecture_are_named()
    {
        using var mistyped = new TempConfig(Qwen25Config.Replace("\"num_attention_heads\": 14", "\"num_attention_heads\": \"14\"", StringComparison.Ordinal));
        using var foreign = new TempConfig(Qwen25Config.Replace("Qwen2ForCausalLM", "MistralForCausalLM", StringComparison.Ordinal));

        var typeError = Assert.Throws<InvalidDataException>(() => ModelShape.FromConfigJson(mistyped.Path));
        var architectureError = Assert.Throws<InvalidDataException>(() => ModelShape.FromConfigJson(foreign.Path));

        Assert.Contains("'num_attention_heads' = \"14\" is not a positive integer", typeError.Message, StringComparison.Ordinal);
        Assert.Contains("'architectures'", architectureError.Message, StringComparison.Ordinal);
    }

    // Qwen/Qwen2.5-0.5B's config.json as published.
    private const string Qwen25Config = """
        {
          "architectures": ["Qwen2ForCausalLM"],
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "eos_token_id": 151643,
          "hidden_act": "silu",
          "hidden_size": 896,
          "initializer_range": 0.02,
          "intermediate_size": 4864,
          "max_position_embeddings": 32768,
          "max_window_layers": 24,
          "model_type": "qwen2",
          "num_attention_heads": 14,
          "num_hidden_layers": 24,
          "num_key_value_heads": 2,
          "rms_norm_eps": 1e-06,
          "rope_theta": 1000000.0,
          "sliding_window": 32768,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.40.1",
          "use_cache": true,
          "use_mrope": false,
          "use_sliding_window": false,
          "vocab_size": 151936
        }
        """;

    /// <summary>A config.json in its own temporary folder, removed on dispose.</summary>
    private sealed class TempConfig : IDisposable
    {
        private readonly string _folder = Directory.CreateTempSubdirectory("gputel-config-").FullName;

        public TempConfig(string json)
        {
            Path = System.IO.Path.Combine(_folder, "config.json");
            File.WriteAllText(Path, json);
        }

        public string Path { get; }

        public void Dispose() => Directory.Delete(_folder, recursive: true);
    }
}
