using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Gputel.Core.Checkpoints;
using static TorchSharp.torch;

namespace Gputel.Profiler.Checkpoints;

/// <summary>
/// A Hugging Face checkpoint directory: either one <c>model.safetensors</c>, or shards listed by
/// <c>model.safetensors.index.json</c> (<c>{"metadata": {...}, "weight_map": {tensor: shard}}</c>).
/// Every shard is opened, and every tensor the index names is checked to be in its shard, when
/// the directory is opened; disposing closes the shards.
/// </summary>
public sealed class CheckpointDirectory : IDisposable
{
    /// <summary>The file name of a single-file checkpoint.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>The file name of a sharded checkpoint's index.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, SafetensorsFile> _fileOf;

    private CheckpointDirectory(
        string directoryPath, IReadOnlyList<SafetensorsFile> files, Dictionary<string, SafetensorsFile> fileOf,
        IReadOnlyList<string> names, IReadOnlyDictionary<string, string> metadata)
    {
        DirectoryPath = directoryPath;
        Files = files;
        _fileOf = fileOf;
        Names = names;
        Metadata = metadata;
    }

    /// <summary>The directory as given to <see cref="Open"/>.</summary>
    public string DirectoryPath { get; }

    /// <summary>The open safetensors files: the single file, or the shards in the order the index first names them.</summary>
    public IReadOnlyList<SafetensorsFile> Files { get; }

    /// <summary>Every tensor's name: the index's <c>weight_map</c> order, or the single file's header order.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>
    /// The index's <c>metadata</c> (values that are not JSON strings, such as <c>total_size</c>,
    /// as their JSON text), or the single file's <c>__metadata__</c>.
    /// </summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    // Weights that Hugging Face, PyTorch, llama.cpp and Meta's own releases save in formats this
    // reader does not take. A Trainer's checkpoint-N folder also holds optimizer.pt, scheduler.pt,
    // rng_state.pth and training_args.bin beside the model: those are not weights.
    private static readonly string[] OtherWeightPatterns = ["pytorch_model*.bin", "*.gguf", "tf_model.h5", "flax_model.msgpack", "consolidated*.pth"];

    /// <summary>Whether <paramref name="directory"/> holds safetensors weights (any <c>*.safetensors</c>, or the shard index).</summary>
    public static bool HoldsSafetensors(string directory) =>
        Directory.Exists(directory)
        && (File.Exists(Path.Combine(directory, IndexFileName)) || Directory.EnumerateFiles(directory, "*.safetensors").Any());

    /// <summary>
    /// The first weights file in <paramref name="directory"/> of a format other than safetensors
    /// (<c>pytorch_model.bin</c>, GGUF, TensorFlow, Flax, Meta's <c>consolidated.00.pth</c>), or null.
    /// </summary>
    public static string? OtherWeightsFile(string directory) =>
        Directory.Exists(directory)
            ? OtherWeightPatterns.SelectMany(pattern => Directory.EnumerateFiles(directory, pattern)).Select(Path.GetFileName).Order(StringComparer.Ordinal).FirstOrDefault()
            : null;

    /// <summary>Opens the checkpoint in <paramref name="directory"/>, preferring the index when both kinds are present.</summary>
    /// <exception cref="FileNotFoundException">The directory holds neither an index nor a single file.</exception>
    /// <exception cref="SafetensorsException">The index or a file is invalid, or the index names a missing shard or a tensor its shard lacks.</exception>
    public static CheckpointDirectory Open(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string indexPath = Path.Combine(directory, IndexFileName);
        if (File.Exists(indexPath))
        {
            return OpenSharded(directory, indexPath);
        }
        string singlePath = Path.Combine(directory, SingleFileName);
        if (File.Exists(singlePath))
        {
            SafetensorsFile file = SafetensorsFile.Open(singlePath);
            return new CheckpointDirectory(
                directory, [file], file.Entries.ToDictionary(e => e.Name, _ => file, StringComparer.Ordinal),
                file.Entries.Select(e => e.Name).ToList(), file.Metadata);
        }
        throw new FileNotFoundException($"{directory}: neither {IndexFileName} nor {SingleFileName} is there", indexPath);
    }

    /// <summary>Finds the file (shard) holding tensor <paramref name="name"/>; read the tensor from it by name.</summary>
    public bool TryGet(string name, [NotNullWhen(true)] out SafetensorsFile? file) => _fileOf.TryGetValue(name, out file);

    /// <summary>Tensor <paramref name="name"/> as a new CPU tensor that the caller owns (see <see cref="SafetensorsFile.ToTensor"/>).</summary>
    /// <exception cref="KeyNotFoundException">The checkpoint has no such tensor.</exception>
    public Tensor ToTensor(string name) =>
        TryGet(name, out SafetensorsFile? file)
            ? file.ToTensor(name)
            : throw new KeyNotFoundException($"{DirectoryPath}: the checkpoint has no tensor named '{name}'");

    /// <summary>Closes every file.</summary>
    public void Dispose()
    {
        foreach (SafetensorsFile file in Files)
        {
            file.Dispose();
        }
    }

    private static CheckpointDirectory OpenSharded(string directory, string indexPath)
    {
        (Dictionary<string, string> metadata, List<(string Tensor, string Shard)> weightMap) = ReadIndex(indexPath);
        var shards = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var files = new List<SafetensorsFile>();
        try
        {
            var fileOf = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach ((string tensor, string shard) in weightMap)
            {
                if (!shards.TryGetValue(shard, out SafetensorsFile? file))
                {
                    string shardPath = Path.Combine(directory, shard);
                    if (!File.Exists(shardPath))
                    {
                        throw new SafetensorsException(indexPath, $"shard '{shard}' (holding tensor '{tensor}') does not exist");
                    }
                    file = SafetensorsFile.Open(shardPath);
                    shards.Add(shard, file);
                    files.Add(file);
                }
                if (!file.TryGetEntry(tensor, out _))
                {
                    throw new SafetensorsException(indexPath, $"tensor '{tensor}' is mapped to shard '{shard}', which does not hold it");
                }
                fileOf.Add(tensor, file);
            }
            return new CheckpointDirectory(directory, files, fileOf, weightMap.Select(w => w.Tensor).ToList(), metadata);
        }
        catch
        {
            foreach (SafetensorsFile file in files)
            {
                file.Dispose();
            }
            throw;
        }
    }

    private static (Dictionary<string, string> Metadata, List<(string Tensor, string Shard)> WeightMap) ReadIndex(string indexPath)
    {
        byte[] json = File.ReadAllBytes(indexPath);
        JsonDocument document = JsonObjectFile.Parse(json, indexPath, "the index");
        using (document)
        {
            JsonElement root = document.RootElement;

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            if (root.TryGetProperty("metadata", out JsonElement metadataElement) && metadataElement.ValueKind != JsonValueKind.Null)
            {
                if (metadataElement.ValueKind != JsonValueKind.Object)
                {
                    throw new SafetensorsException(indexPath, $"'metadata' is a JSON {metadataElement.ValueKind}, not an object");
                }
                foreach (JsonProperty item in metadataElement.EnumerateObject())
                {
                    metadata[item.Name] = item.Value.ValueKind == JsonValueKind.String ? item.Value.GetString()! : item.Value.GetRawText();
                }
            }

            if (!root.TryGetProperty("weight_map", out JsonElement weightMapElement) || weightMapElement.ValueKind != JsonValueKind.Object)
            {
                throw new SafetensorsException(indexPath, "the index has no 'weight_map' object");
            }
            var weightMap = new List<(string Tensor, string Shard)>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty item in weightMapElement.EnumerateObject())
            {
                if (item.Value.ValueKind != JsonValueKind.String)
                {
                    throw new SafetensorsException(indexPath, $"'weight_map' value for '{item.Name}' is a JSON {item.Value.ValueKind}, not a file name");
                }
                if (!seen.Add(item.Name))
                {
                    throw new SafetensorsException(indexPath, $"'weight_map' names tensor '{item.Name}' twice");
                }
                string shard = item.Value.GetString()!;
                // A shard is a file beside the index; a path could reach any file the process may read.
                if (shard.Length == 0 || shard is "." or ".." || Path.GetFileName(shard) != shard || shard.Contains('\\', StringComparison.Ordinal))
                {
                    throw new SafetensorsException(indexPath, $"'weight_map' maps '{item.Name}' to '{shard}', which is not a file name in the checkpoint directory");
                }
                weightMap.Add((item.Name, shard));
            }
            return (metadata, weightMap);
        }
    }
}
