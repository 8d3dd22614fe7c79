using Gputel.Core.Checkpoints;
using Gputel.Profiler.Checkpoints;
using static TorchSharp.torch;

namespace Gputel.Profiler.Tests.Checkpoints;

/// <summary>Single-file and sharded Hugging Face checkpoint directories.</summary>
public sealed class CheckpointDirectoryTests
{
    private const string Index = CheckpointDirectory.IndexFileName;

    [Fact]
    public void A_sharded_checkpoint_loads_through_its_index()
    {
        using var directory = new TempDirectory();
        using Tensor embed = arange(12, ScalarType.Float32).reshape(3, 4).to(ScalarType.BFloat16);
        using Tensor norm = ones(4);
        using Tensor head = arange(8, ScalarType.Int64);
        SafetensorsWriter.Write(directory.File("model-00001-of-00002.safetensors"), [("embed", embed), ("norm", norm)], new Dictionary<string, string> { ["format"] = "pt" });
        SafetensorsWriter.Write(directory.File("model-00002-of-00002.safetensors"), [("head", head)], new Dictionary<string, string> { ["format"] = "pt" });
        File.WriteAllText(directory.File(Index), """
            {
              "metadata": {"total_size": 104, "format": "pt"},
              "weight_map": {
                "embed": "model-00001-of-00002.safetensors",
                "head": "model-00002-of-00002.safetensors",
                "norm": "model-00001-of-00002.safetensors"
              }
            }
            """);

        using CheckpointDirectory checkpoint = CheckpointDirectory.Open(directory.Path);

        Assert.Equal(["embed", "head", "norm"], checkpoint.Names);
        Assert.Equal(2, checkpoint.Files.Count);
        Assert.Equal("104", checkpoint.Metadata["total_size"]);
        Assert.Equal("pt", checkpoint.Metadata["format"]);
        Assert.True(checkpoint.TryGet("head", out SafetensorsFile? shard));
        Assert.EndsWith("model-00002-of-00002.safetensors", shard.Path, StringComparison.Ordinal);
        Assert.False(checkpoint.TryGet("missing", out _));
        using Tensor loadedEmbed = checkpoint.ToTensor("embed");
        Assert.Equal(embed.bytes.ToArray(), loadedEmbed.bytes.ToArray());
        Assert.Equal(ScalarType.BFloat16, loadedEmbed.dtype);
        using Tensor loadedHead = checkpoint.ToTensor("head");
        Assert.Equal(Enumerable.Range(0, 8).Select(i => (long)i), loadedHead.data<long>().ToArray());
        Assert.Throws<KeyNotFoundException>(() => checkpoint.ToTensor("missing"));
    }

    [Fact]
    public void A_single_file_checkpoint_loads()
    {
        using var directory = new TempDirectory();
        using Tensor weight = arange(6, ScalarType.Float32).reshape(2, 3);
        SafetensorsWriter.Write(directory.File(CheckpointDirectory.SingleFileName), [("w", weight)], new Dictionary<string, string> { ["format"] = "pt" });

        using CheckpointDirectory checkpoint = CheckpointDirectory.Open(directory.Path);

        Assert.Equal(["w"], checkpoint.Names);
        Assert.Equal("pt", checkpoint.Metadata["format"]);
        using Tensor loaded = checkpoint.ToTensor("w");
        Assert.Equal(weight.bytes.ToArray(), loaded.bytes.ToArray());
    }

    [Fact]
    public void An_index_naming_a_missing_shard_is_refused()
    {
        using var directory = new TempDirectory();
        File.WriteAllText(directory.File(Index), """{"weight_map": {"w": "model-00001-of-00002.safetensors"}}""");

        SafetensorsException e = Assert.Throws<SafetensorsException>(() => CheckpointDirectory.Open(directory.Path).Dispose());

        Assert.StartsWith(directory.File(Index) + ": ", e.Message, StringComparison.Ordinal);
        Assert.Contains("shard 'model-00001-of-00002.safetensors' (holding tensor 'w') does not exist", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_index_naming_a_tensor_its_shard_lacks_is_refused()
    {
        using var directory = new TempDirectory();
        using Tensor weight = ones(2);
        SafetensorsWriter.Write(directory.File("shard.safetensors"), [("w", weight)]);
        File.WriteAllText(directory.File(Index), """{"weight_map": {"w": "shard.safetensors", "bias": "shard.safetensors"}}""");

        SafetensorsException e = Assert.Throws<SafetensorsException>(() => CheckpointDirectory.Open(directory.Path).Dispose());

        Assert.Contains("tensor 'bias' is mapped to shard 'shard.safetensors', which does not hold it", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"weight_map": {"w": "../model.safetensors"}}""", "not a file name in the checkpoint directory")]
    [InlineData("""{"weight_map": {"w": 3}}""", "'weight_map' value for 'w' is a JSON Number, not a file name")]
    [InlineData("""{"metadata": {}}""", "no 'weight_map' object")]
    [InlineData("""{"weight_map": """, "the index is not valid JSON")]
    public void A_malformed_index_is_refused(string index, string problem)
    {
        using var directory = new TempDirectory();
        File.WriteAllText(directory.File(Index), index);

        SafetensorsException e = Assert.Throws<SafetensorsException>(() => CheckpointDirectory.Open(directory.Path).Dispose());

        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_index_that_is_not_UTF_8_is_refused()
    {
        using var directory = new TempDirectory();
        File.WriteAllBytes(directory.File(Index), [.. "{\"weight_map\": {\""u8, 0xff, .. "\": \"a\"}}"u8]);

        SafetensorsException e = Assert.Throws<SafetensorsException>(() => CheckpointDirectory.Open(directory.Path).Dispose());

        Assert.Contains("the index is not valid UTF-8", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_directory_without_a_checkpoint_is_refused()
    {
        using var directory = new TempDirectory();

        FileNotFoundException e = Assert.Throws<FileNotFoundException>(() => CheckpointDirectory.Open(directory.Path).Dispose());

        Assert.Contains(CheckpointDirectory.IndexFileName, e.Message, StringComparison.Ordinal);
    }
}
