using Gputel.Core.Model;
using Gputel.Profiler.Model;
using static TorchSharp.torch;

namespace Gputel.Profiler.Tests.Checkpoints;

/// <summary>Loading a Hugging Face checkpoint into the decoder: dtype conversion and one tensor alive at a time.</summary>
public sealed class CheckpointLoadingTests
{
    [Fact]
    public void A_bf16_checkpoint_loads_into_an_fp32_model_with_its_exact_values()
    {
        using var directory = new TempDirectory();
        using var scope = NewDisposeScope();
        Dictionary<string, Tensor> written = TinyCheckpoint.Write(directory.Path, ScalarType.BFloat16);
        manual_seed(1);
        using var model = new DecoderModel(ModelShape.Tiny, ScalarType.Float32);

        WeightLoad load = model.LoadCheckpoint(directory.Path);

        Assert.Equal(written.Count, load.Copied);
        Assert.Equal([ScalarType.BFloat16], load.ConvertedFrom);
        foreach (var (name, parameter) in model.named_parameters())
        {
            Assert.Equal(ScalarType.Float32, parameter.dtype);
            // Every bf16 value is an fp32 value: the conversion is exact.
            Assert.Equal(written[name].to(ScalarType.Float32).data<float>().ToArray(), parameter.data<float>().ToArray());
        }
    }

    [Fact]
    public void A_tensor_the_model_has_no_parameter_for_is_refused_by_name_and_rotary_buffers_pass()
    {
        using var directory = new TempDirectory();
        using var scope = NewDisposeScope();
        Dictionary<string, Tensor> written = TinyCheckpoint.Write(directory.Path, ScalarType.Float32);
        string file = Path.Combine(directory.Path, Gputel.Profiler.Checkpoints.CheckpointDirectory.SingleFileName);

        // Older Llama exports save the rotary frequencies: computed, not learned, so let through.
        written["model.layers.0.self_attn.rotary_emb.inv_freq"] = arange(0, 8, dtype: ScalarType.Float32);
        Gputel.Profiler.Checkpoints.SafetensorsWriter.Write(file, written.Select(w => (w.Key, w.Value)));
        using (var model = new DecoderModel(ModelShape.Tiny, ScalarType.Float32))
        {
            Assert.Equal(written.Count - 1, model.LoadCheckpoint(directory.Path).Copied);
            Assert.Equal(written["model.layers.1.mlp.down_proj.weight"].data<float>().ToArray(),
                model.named_parameters().Single(p => p.name == "model.layers.1.mlp.down_proj.weight").parameter.data<float>().ToArray());
        }

        // A bias o_proj never has here would be dropped and another model trained: refused first.
        written["model.layers.1.self_attn.o_proj.bias"] = zeros(64);
        Gputel.Profiler.Checkpoints.SafetensorsWriter.Write(file, written.Select(w => (w.Key, w.Value)));
        using var refusing = new DecoderModel(ModelShape.Tiny, ScalarType.Float32);
        var e = Assert.Throws<InvalidDataException>(() => refusing.LoadCheckpoint(directory.Path));
        Assert.Contains("'model.layers.1.self_attn.o_proj.bias' has no parameter", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Each_loaded_tensor_is_freed_once_copied_not_when_all_are()
    {
        using var scope = NewDisposeScope();
        using var source = new DecoderModel(ModelShape.Tiny);
        using var target = new DecoderModel(ModelShape.Tiny);
        var weights = source.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        var handedOut = new List<Tensor>();
        int aliveAtLookup = 0;

        target.LoadWeights(
            name =>
            {
                aliveAtLookup = Math.Max(aliveAtLookup, handedOut.Count(t => !t.IsInvalid));
                Tensor fresh = weights[name].to(ScalarType.BFloat16);
                handedOut.Add(fresh);
                return fresh;
            },
            disposeLoaded: true);

        Assert.Equal(weights.Count, handedOut.Count);
        Assert.Equal(0, aliveAtLookup);
        Assert.All(handedOut, t => Assert.True(t.IsInvalid));
    }

    [Fact]
    public void A_refused_tensor_is_freed_too()
    {
        using var scope = NewDisposeScope();
        using var target = new DecoderModel(ModelShape.Tiny);
        Tensor wrong = zeros(3, 3);

        Assert.Throws<InvalidDataException>(() => target.LoadWeights(_ => wrong, disposeLoaded: true));

        Assert.True(wrong.IsInvalid);
    }
}
