using Gputel.Core.Model;
using Gputel.Profiler.Model;
using static TorchSharp.torch;

namespace Gputel.Profiler.Tests.Model;

/// <summary>Full, freeze and LoRA fine-tuning, gradient checkpointing, and that training learns.</summary>
public sealed class TrainingMethodTests
{
    [Fact]
    public void Lora_trains_only_adapters_of_r_times_in_plus_out_per_target()
    {
        using var scope = NewDisposeScope();
        using var model = new DecoderModel(ModelShape.Tiny);
        var tokens = TinyBatch.Tokens();
        var before = model.call(tokens, null).Logits;
        var settings = new LoraSettings(rank: 4, alpha: 8);

        int wrapped = model.ApplyLora(settings);

        var trainable = model.NamedTrainableParameters().ToList();
        Assert.Equal(7 * ModelShape.Tiny.Layers, wrapped);
        Assert.All(trainable, entry => Assert.Matches(@"\.lora_[AB]\.weight$", entry.Name));
        Assert.Equal(ModelShape.Tiny.LoraParameterCount(settings), trainable.Sum(entry => entry.Parameter.numel()));
        foreach (var target in settings.TargetModules)
        {
            var (inputs, outputs) = ModelShape.Tiny.ProjectionSize(target);
            long adapter = trainable.Where(entry => entry.Name.StartsWith($"model.layers.0.", StringComparison.Ordinal)
                    && entry.Name.Contains($".{target}.lora_", StringComparison.Ordinal))
                .Sum(entry => entry.Parameter.numel());
            Assert.Equal(settings.Rank * (inputs + outputs), adapter);
        }
        // Base weights keep their Hugging Face names, and B = 0 leaves the output unchanged.
        Assert.Contains(model.named_parameters(), entry => entry.name == "model.layers.0.self_attn.q_proj.weight" && !entry.parameter.requires_grad);
        Assert.True(before.allclose(model.call(tokens, null).Logits));
        Assert.Throws<InvalidOperationException>(() => model.ApplyLora(settings));
    }

    [Fact]
    public void Freezing_all_but_the_last_layer_gives_gradients_only_there()
    {
        using var scope = NewDisposeScope();
        using var model = new DecoderModel(ModelShape.Tiny);
        model.FreezeAllButLastLayers(1);
        var tokens = TinyBatch.Tokens();

        model.call(tokens, tokens).Loss!.backward();

        var withGradient = TinyBatch.Gradients(model).Keys.Order(StringComparer.Ordinal).ToList();
        var lastLayer = model.named_parameters().Select(entry => entry.name)
            .Where(name => name.StartsWith("model.layers.1.", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(lastLayer, withGradient);
        Assert.Equal(lastLayer, model.NamedTrainableParameters().Select(entry => entry.Name).Order(StringComparer.Ordinal).ToList());
    }

    [Theory]
    [InlineData(false, 0)]
    [InlineData(true, 0)]
    // Dropout draws a mask in forward and again when the layer is recomputed: the same one, since
    // the recomputation starts from the generator's state the forward pass started from.
    [InlineData(true, 0.3)]
    public void Checkpointing_gives_the_same_gradients(bool lora, double dropout)
    {
        using var scope = NewDisposeScope();
        using var model = new DecoderModel(ModelShape.Tiny);
        if (lora)
        {
            model.ApplyLora(new LoraSettings(rank: 4, alpha: 8, dropout: dropout));
        }
        var tokens = TinyBatch.Tokens();
        int layerRuns = 0;
        var removers = model.Layers.Select(layer => layer.register_forward_hook(_ => layerRuns++)).ToList();

        manual_seed(11);
        model.call(tokens, tokens).Loss!.backward();
        var plain = TinyBatch.Gradients(model);
        int plainRuns = layerRuns;
        model.zero_grad(set_to_none: true);
        model.GradientCheckpointing = true;
        manual_seed(11);
        model.call(tokens, tokens).Loss!.backward();
        var checkpointed = TinyBatch.Gradients(model);
        removers.ForEach(remover => remover.remove());

        // Each layer ran once more, in backward: it was recomputed.
        Assert.Equal(ModelShape.Tiny.Layers, plainRuns);
        Assert.Equal(3 * ModelShape.Tiny.Layers, layerRuns);

        Assert.Equal(model.NamedTrainableParameters().Count(), plain.Count);
        Assert.Equal(plain.Keys.Order(StringComparer.Ordinal), checkpointed.Keys.Order(StringComparer.Ordinal));
        Assert.All(plain, entry => Assert.True(
            entry.Value.allclose(checkpointed[entry.Key], rtol: 1e-4, atol: 1e-6), $"{entry.Key} differs with checkpointing"));
        Assert.Contains(checkpointed, entry => entry.Value.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void Loss_falls_over_40_AdamW_steps_on_a_repeated_batch()
    {
        using var model = new DecoderModel(ModelShape.Tiny);
        using var tokens = TinyBatch.Tokens();
        using var optimizer = optim.AdamW(model.TrainableParameters(), lr: 3e-3);
        var losses = new List<float>();

        for (int step = 0; step < 40; step++)
        {
            using var scope = NewDisposeScope();
            model.zero_grad(set_to_none: true);
            var loss = model.call(tokens, tokens).Loss!;
            loss.backward();
            optimizer.step();
            losses.Add(loss.item<float>());
        }

        Assert.True(losses[^1] < losses[0] / 2, $"loss went {losses[0]} -> {losses[^1]}");
    }
}
