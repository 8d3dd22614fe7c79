using Gputel.Core.Model;
using Gputel.Profiler.Checkpoints;

namespace Gputel.Agent.Commands;

/// <content>What <c>--model</c> and <c>--checkpoint</c> name: a shape, and where its weights and tokenizer come from.</content>
internal static partial class FinetuneCommand
{
    /// <summary>The model a fine-tune trains.</summary>
    /// <param name="Shape">Its dimensions.</param>
    /// <param name="Name">As run.json records it: a built-in name, or a full path (so a report finds config.json from anywhere).</param>
    /// <param name="CheckpointDirectory">The safetensors checkpoint its weights are loaded from, or null for fresh weights.</param>
    /// <param name="ConfigDirectory">With fresh weights from a config.json, the directory it is in (its tokenizer is looked for there).</param>
    internal sealed record ModelSource(ModelShape Shape, string Name, string? CheckpointDirectory, string? ConfigDirectory);

    /// <summary>
    /// Resolves <c>--model</c> (<paramref name="modelGiven"/>: typed, not the default) and
    /// <c>--checkpoint</c>. A directory given as <c>--model</c> that holds safetensors weights is
    /// loaded as <c>--checkpoint</c> would load it: training fresh weights in the shape of a model
    /// one has on disk is never what was meant. Its <c>config.json</c> named as a file gives the
    /// shape alone, with fresh weights, for when that is. Weights in a format this tool cannot read
    /// are refused rather than passed over.
    /// </summary>
    /// <exception cref="ArgumentException">Both options name a model, or a directory's weights cannot be read.</exception>
    /// <exception cref="FileNotFoundException">A config.json is missing.</exception>
    /// <exception cref="InvalidDataException">A config.json is not a model configuration this tool builds.</exception>
    internal static ModelSource ResolveModel(string model, bool modelGiven, string? checkpoint)
    {
        if (checkpoint is not null)
        {
            if (modelGiven)
            {
                // The checkpoint's config.json gives the shape: a --model beside it would be ignored.
                throw new ArgumentException($"--model {model} and --checkpoint both name the model: give one (--checkpoint's config.json gives the shape)");
            }

            // By full path, as a config.json below: run.json keeps it, and `gputel report` run from
            // another directory must find the checkpoint's config.json for its estimate.
            string directory = Path.GetFullPath(checkpoint);
            ModelShape shape = ModelShape.FromConfigJson(Path.Combine(directory, "config.json"));
            RequireSafetensors(directory, "--checkpoint " + checkpoint);
            return new ModelSource(shape, directory, directory, null);
        }

        if (model.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            string path = Path.GetFullPath(model);
            return new ModelSource(ModelShape.FromConfigJson(path), path, null, Path.GetDirectoryName(path));
        }

        if (Directory.Exists(model))
        {
            string directory = Path.GetFullPath(model);
            ModelShape shape = ModelShape.FromConfigJson(Path.Combine(directory, "config.json"));
            if (CheckpointDirectory.HoldsSafetensors(directory))
            {
                return new ModelSource(shape, directory, directory, null);
            }

            if (CheckpointDirectory.OtherWeightsFile(directory) is { } other)
            {
                throw new ArgumentException(
                    $"--model {model} holds {other}, which gputel cannot load (it reads safetensors): convert the weights to safetensors, or give {Path.Combine(model, "config.json")} to train its shape from fresh weights");
            }

            return new ModelSource(shape, directory, null, directory);
        }

        // A built-in name (or the error that lists them).
        return new ModelSource(ModelShape.Resolve(model), model, null, null);
    }

    // Refused here, before the model is built, with the format found if it is another one.
    private static void RequireSafetensors(string directory, string given)
    {
        if (CheckpointDirectory.HoldsSafetensors(directory))
        {
            return;
        }

        throw new ArgumentException(CheckpointDirectory.OtherWeightsFile(directory) is { } other
            ? $"{given} holds {other}, which gputel cannot load (it reads safetensors): convert the weights to safetensors"
            : $"{given} holds no weights: neither {CheckpointDirectory.SingleFileName} nor {CheckpointDirectory.IndexFileName} is there");
    }
}
