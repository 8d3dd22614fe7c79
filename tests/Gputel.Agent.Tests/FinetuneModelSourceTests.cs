using System.Globalization;
using System.Text.RegularExpressions;
using Gputel.Core.Records;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary>
/// Where <c>gputel finetune</c>'s weights and token ids come from: a model directory's safetensors
/// are loaded (or refused, naming the tensor), never passed over for random weights, and a model
/// from disk without its tokenizer is refused unless byte tokens are asked for. Every refusal is one
/// line, exit 2, with no run record started.
/// </summary>
public sealed partial class FinetuneModelSourceTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    // Every weight of TinyCheckpoint is zero, so every logit is zero and the first step's loss (taken
    // before any update) is ln(vocabulary) whatever the tokens: ln 512 = 6.23832. A model with the
    // fresh normal(0, 0.02) weights of the same shape starts elsewhere (6.25 with seed 42).
    private static readonly string ZeroWeightLoss = Math.Log(512).ToString("0.0000", CultureInfo.InvariantCulture);

    [Fact]
    public void A_model_directory_with_safetensors_is_loaded_and_its_config_json_alone_gives_fresh_weights()
    {
        string model = Path.Combine(_dir.Path, "model");
        TinyCheckpoint.Write(model);

        string loadedRun = Path.Combine(_dir.Path, "loaded");
        (int exit, string output) = AgentProcess.Run(["finetune", "--model", model, "--method", "full", "--optimizer", "sgd", "--steps", "1", "--cutoff-len", "16", "--out", loadedRun], seconds: 120);

        Assert.True(exit == 0, output);
        Assert.Contains("weights from its checkpoint", output, StringComparison.Ordinal);
        Assert.Equal(ZeroWeightLoss, FirstLoss(output));
        // Embedding, final norm and nine tensors in each of the two layers.
        Assert.Equal("checkpoint (20 tensors)", RunRecordReader.Read(loadedRun).Info!.Settings["weights"]);

        string freshRun = Path.Combine(_dir.Path, "fresh");
        (exit, output) = AgentProcess.Run(["finetune", "--model", Path.Combine(model, "config.json"), "--method", "full", "--optimizer", "sgd", "--steps", "1", "--cutoff-len", "16", "--out", freshRun], seconds: 120);

        Assert.True(exit == 0, output);
        Assert.Contains("fresh random weights", output, StringComparison.Ordinal);
        Assert.NotEqual(ZeroWeightLoss, FirstLoss(output));
        Assert.Equal("fresh (normal(0, 0.02), seed 42)", RunRecordReader.Read(freshRun).Info!.Settings["weights"]);
    }

    public static TheoryData<string, string> BadCheckpoints => new()
    {
        { "wrong shape", "Checkpoint tensor 'model.layers.1.mlp.up_proj.weight' has shape [175, 64]; the model expects [176, 64]" },
        { "missing tensor", "Checkpoint has no tensor 'model.norm.weight'" },
        { "tensor the model lacks", "Checkpoint tensor 'model.layers.0.self_attn.o_proj.bias' has no parameter in the model" },
        { "pytorch weights", "holds pytorch_model.bin, which gputel cannot load (it reads safetensors)" },
    };

    [Theory]
    [MemberData(nameof(BadCheckpoints))]
    public void Weights_that_do_not_fit_the_model_are_refused_naming_the_tensor(string what, string message)
    {
        string model = Path.Combine(_dir.Path, "model");
        if (what == "pytorch weights")
        {
            TinyCheckpoint.Write(model);
            File.Move(Path.Combine(model, "model.safetensors"), Path.Combine(model, "pytorch_model.bin"));
        }
        else
        {
            TinyCheckpoint.Write(model, tensors =>
            {
                switch (what)
                {
                    case "wrong shape":
                        tensors[tensors.FindIndex(t => t.Name == "model.layers.1.mlp.up_proj.weight")] = ("model.layers.1.mlp.up_proj.weight", [175, 64]);
                        break;
                    case "missing tensor":
                        tensors.RemoveAll(t => t.Name == "model.norm.weight");
                        break;
                    default:
                        tensors.Add(("model.layers.0.self_attn.o_proj.bias", [64]));
                        break;
                }
            });
        }

        foreach (string option in (string[])["--model", "--checkpoint"])
        {
            string run = Path.Combine(_dir.Path, "run");
            AssertRefused(AgentProcess.Run(["finetune", option, model, "--steps", "1", "--out", run], seconds: 120), message, $"{what}, {option}");
            Assert.False(Directory.Exists(run), $"{what}, {option}: the run directory was created");
        }
    }

    [Theory]
    [InlineData("--checkpoint", null, "has no tokenizer.json (nor tokenizer.model, nor vocab.json + merges.txt)")]
    [InlineData("--model", null, "has no tokenizer.json")]
    [InlineData("--checkpoint", "tokenizer.model", "has tokenizer.model (SentencePiece), which gputel does not read, and no tokenizer.json")]
    // A config.json alone: its directory is the model's, and its tokenizer is looked for there too.
    [InlineData("config.json", null, "has no tokenizer.json")]
    public void A_dataset_for_a_model_without_its_tokenizer_is_refused_naming_the_file(string option, string? extraFile, string message)
    {
        string model = Path.Combine(_dir.Path, "model");
        TinyCheckpoint.Write(model);
        if (extraFile is not null)
        {
            File.WriteAllBytes(Path.Combine(model, extraFile), [0x0a, 0x03, 0x3c, 0x73, 0x3e]);
        }

        string data = _dir.File("data.jsonl", "{\"instruction\": \"Say hi\", \"output\": \"hi there\"}\n");
        string run = Path.Combine(_dir.Path, "run");
        string[] source = option == "config.json" ? ["--model", Path.Combine(model, "config.json")] : [option, model];

        AssertRefused(AgentProcess.Run(["finetune", .. source, "--data", data, "--steps", "1", "--out", run], seconds: 120), message, option);
        Assert.False(Directory.Exists(run), "the run directory was created");
    }

    [Fact]
    public void Byte_tokens_asked_for_train_a_checkpoint_without_a_tokenizer_and_the_record_says_so()
    {
        string model = Path.Combine(_dir.Path, "model");
        TinyCheckpoint.Write(model);
        string data = _dir.File("data.jsonl", "{\"instruction\": \"Say hi\", \"output\": \"hi there\"}\n");
        string run = Path.Combine(_dir.Path, "run");

        (int exit, string output) = AgentProcess.Run(["finetune", "--checkpoint", model, "--data", data, "--tokenizer", "bytes", "--steps", "1", "--cutoff-len", "16", "--out", run], seconds: 120);

        Assert.True(exit == 0, output);
        IReadOnlyDictionary<string, string> settings = RunRecordReader.Read(run).Info!.Settings;
        Assert.Equal("bytes", settings["tokenizer"]);
        Assert.Equal("checkpoint (20 tensors)", settings["weights"]);
    }

    [Fact]
    public void An_unknown_tokenizer_choice_is_refused()
    {
        string run = Path.Combine(_dir.Path, "run");
        AssertRefused(AgentProcess.Run(["finetune", "--tokenizer", "sentencepiece", "--steps", "1", "--out", run]), "invalid tokenizer 'sentencepiece': expected auto, bytes, or a directory holding tokenizer.json", "--tokenizer");
        Assert.False(Directory.Exists(run));
    }

    private static string FirstLoss(string output)
    {
        Match step = LossOfFirstStep().Match(output);
        Assert.True(step.Success, output);
        return step.Groups[1].Value;
    }

    private static void AssertRefused((int ExitCode, string Output) result, string message, string what)
    {
        (int exit, string output) = result;
        string context = $"{what}\n{output}";
        Assert.True(exit == 2, $"exit {exit}, expected 2: {context}");
        Assert.True(output.Split('\n').Count(l => l.StartsWith("gputel finetune: ", StringComparison.Ordinal) && l.Contains(message, StringComparison.Ordinal)) == 1, $"one line naming the problem: {context}");
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"step\s+1/\d+\s+loss\s+([0-9.]+)")]
    private static partial Regex LossOfFirstStep();

    public void Dispose() => _dir.Dispose();
}
