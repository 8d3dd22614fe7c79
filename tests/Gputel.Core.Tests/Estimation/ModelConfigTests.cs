using Gputel.Core.Estimation;
using Gputel.Core.Model;
using Gputel.Tests.Support;

namespace Gputel.Core.Tests.Estimation;

/// <summary>
/// The public config.json files of the models people fine-tune, read as shapes and counted against
/// the totals their model cards publish. Each expected count is worked out by hand from the config's
/// dimensions in the comment above it.
/// </summary>
public sealed class ModelConfigTests
{
    internal static string Config(string name) => Path.Combine(Repo.Root, "tests", "Gputel.Core.Tests", "Configs", name);

    [Theory]
    // 151,936 x 896 embedding (tied) + 24 x (896 x 896 + 2 x 896 x 128 + 896 x 896 + 896 + 2 x 128 attention,
    // 3 x 896 x 4864 MLP, 2 x 896 norms) + 896 final norm: the card's 494,032,768.
    [InlineData("qwen2.5-0.5b.json", 494_032_768L)]
    // 2 x 151,936 x 1536 + 28 x (1536^2 x 2 + 2 x 1536 x 256 + 1536 + 512 + 3 x 1536 x 8960 + 3072) + 1536.
    [InlineData("deepseek-r1-distill-qwen-1.5b.json", 1_777_088_000L)]
    // 2 x 152,064 x 5120 + 64 x (5120^2 x 2 + 2 x 5120 x 1024 + 5120 + 2048 + 3 x 5120 x 27,648 + 10,240) + 5120.
    [InlineData("deepseek-r1-distill-qwen-32b.json", 32_763_876_352L)]
    // 2 x 151,936 x 4096 + 36 x (4096^2 x 2 + 2 x 4096 x 1024 + 3 x 4096 x 12,288 + 2 x 4096 + 2 x 128 q/k norms) + 4096.
    [InlineData("qwen3-8b.json", 8_190_735_360L)]
    // 2 x 128,256 x 4096 + 32 x (4096^2 x 2 + 2 x 4096 x 1024 + 3 x 4096 x 14,336 + 2 x 4096) + 4096.
    [InlineData("llama-3.1-8b.json", 8_030_261_248L)]
    // 128,256 x 2048 (tied) + 16 x (2048^2 x 2 + 2 x 2048 x 512 + 3 x 2048 x 8192 + 2 x 2048) + 2048.
    [InlineData("llama-3.2-1b.json", 1_235_814_400L)]
    public void Public_configs_count_the_parameters_their_cards_give(string file, long expected)
    {
        Assert.Equal(expected, ModelShape.FromConfigJson(Config(file)).ParameterCount().WithVision);
    }

    [Fact]
    public void Qwen3_has_query_and_key_norms_and_no_qkv_bias()
    {
        ModelShape shape = ModelShape.FromConfigJson(Config("qwen3-8b.json"));

        Assert.True(shape.QkNorm);
        Assert.False(shape.AttentionBias);
        Assert.Equal(128, shape.HeadDim);
        Assert.NotNull(shape.NotTrainableReason);
    }

    [Fact]
    public void Qwen2_vl_counts_its_vision_tower_apart()
    {
        ModelShape shape = ModelShape.FromConfigJson(Config("qwen2-vl-7b-instruct.json"));
        ParameterCounts counts = shape.ParameterCount();

        // Width e = 1280, 32 blocks: patch embedding 3 x 2 x 14 x 14 x e = 1,505,280; a block has two
        // LayerNorms (4e), qkv (3e^2 + 3e), proj (e^2 + e), fc1 (4e^2 + 4e) and fc2 (4e^2 + e):
        // 12e^2 + 13e = 19,677,440, x 32 = 629,678,080; the merger's LayerNorm (2e = 2560),
        // Linear(4e, 4e) (26,219,520) and Linear(4e, 3584) (18,353,664) = 44,575,744.
        Assert.Equal(675_759_104L, counts.Vision);
        // The language model is Qwen2-7B's: 7,615,616,512; together the card's 8.29 B.
        Assert.Equal(ModelShape.Qwen2_7B.ParameterCount().Total, counts.Total);
        Assert.Equal(8_291_375_616L, counts.WithVision);
    }

    [Fact]
    public void Qwen2_5_vl_has_a_swiglu_vision_tower()
    {
        ParameterCounts counts = ModelShape.FromConfigJson(Config("qwen2.5-vl-7b-instruct.json")).ParameterCount();

        // e = 1280, MLP 3420: a block has two RMSNorms (2e), qkv and proj (4e^2 + 4e), gate and up
        // (2 x (e x 3420 + 3420)) and down (3420 e + e): 4e^2 + 3 x 3420 e + 7e + 2 x 3420 = 19,702,200,
        // x 32 = 630,470,400; patch embedding 1,505,280; merger RMSNorm 1280 + 26,219,520 + 18,353,664.
        Assert.Equal(676_550_144L, counts.Vision);
    }

    [Fact]
    public void A_vision_config_nested_as_newer_transformers_write_it_reads_the_same()
    {
        using var dir = new TempDirectory();
        string flat = File.ReadAllText(Config("qwen2-vl-7b-instruct.json"));
        var node = System.Text.Json.Nodes.JsonNode.Parse(flat)!.AsObject();
        var text = new System.Text.Json.Nodes.JsonObject();
        foreach (string key in new[] { "hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers", "num_key_value_heads", "vocab_size" })
        {
            text[key] = node[key]!.DeepClone();
            node.Remove(key);
        }

        node["text_config"] = text;
        string nested = dir.File("config.json", node.ToJsonString());

        Assert.Equal(ModelShape.FromConfigJson(Config("qwen2-vl-7b-instruct.json")), ModelShape.FromConfigJson(nested));
    }

    [Fact]
    public void Mixture_of_experts_is_refused_by_name()
    {
        var e = Assert.Throws<InvalidDataException>(() => ModelShape.FromConfigJson(Config("qwen3-30b-a3b.json")));
        Assert.Contains("mixture-of-experts", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bitsandbytes_quantization_config_is_read_and_others_refused()
    {
        QuantizationConfig? q = QuantizationConfig.Read(Config("qwen2.5-7b-bnb-4bit.json"));
        Assert.Equal(new QuantizationConfig(WeightQuantization.FourBit, true, "bitsandbytes 4-bit nf4, double quantization"), q);
        Assert.Null(QuantizationConfig.Read(Config("qwen2.5-0.5b.json")));

        var e = Assert.Throws<InvalidDataException>(() => QuantizationConfig.Read(Config("qwen2.5-7b-gptq-int4.json")));
        Assert.Contains("'gptq' is not modelled", e.Message, StringComparison.Ordinal);
    }
}
