using System.Buffers.Binary;
using System.Text;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary>
/// Bad input through the real gputel process: a one-line message that names the problem, exit code
/// 2, no stack trace, and nothing written.
/// </summary>
public sealed class BadInputTests : IDisposable
{
    private const string TinyConfig = """
        {"architectures": ["Qwen2ForCausalLM"], "vocab_size": 512, "hidden_size": 64, "intermediate_size": 176,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
         "tie_word_embeddings": true}
        """;

    private readonly TempDirectory _dir = new();

    [Theory]
    [InlineData("listen: [0.0.0.0:9445\n", "is not valid YAML")]
    [InlineData("- listen\n- interval\n", "must be a mapping of settings")]
    [InlineData("listen: 127.0.0.1:0\nport: 9445\n", "unknown setting 'port'")]
    [InlineData("listen:\n  - 127.0.0.1:0\n", "'listen' must be a single value")]
    [InlineData("listen: 127.0.0.1:99999\n", "invalid listen '127.0.0.1:99999'")]
    [InlineData("interval: 1h30x\n", "invalid interval '1h30x'")]
    [InlineData("collectors: [memory, -xid]\n", "mixes names and exclusions")]
    [InlineData("\t\u0001\u0002 listen: x\n", "config file")]
    public void A_bad_agent_config_file_exits_2_with_one_line(string yaml, string message)
    {
        string config = _dir.File("agent.yaml", yaml);
        AssertUsageError(AgentProcess.Run(["agent", "--config", config]), "gputel agent", message);
    }

    /// <summary>Inputs found by fuzzing (fuzz/) on which YamlDotNet throws something other than YamlException.</summary>
    [Theory]
    [InlineData("PwA6")]
    [InlineData("ISErQQ==")]
    [InlineData("Li4uCjI=")]
    [InlineData("PwpbChw=")]
    [InlineData("CToJ4DoJ4A==")]
    public void Yaml_the_parser_chokes_on_is_reported_not_thrown(string base64)
    {
        string config = Path.Combine(_dir.Path, "fuzzed.yaml");
        System.IO.File.WriteAllBytes(config, Convert.FromBase64String(base64));
        (int exit, string output) = AgentProcess.Run(["agent", "--config", config]);

        Assert.True(exit == 2, output);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        Assert.Contains($"gputel agent: config file {config}", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_or_unreadable_config_file_exits_2()
    {
        AssertUsageError(AgentProcess.Run(["agent", "--config", Path.Combine(_dir.Path, "nope.yaml")]), "gputel agent", "cannot read config file");
        AssertUsageError(AgentProcess.Run(["agent", "--config", _dir.Path]), "gputel agent", "cannot read config file");
    }

    [Theory]
    [InlineData(new[] { "--listen", "example.org:9445" }, "invalid listen 'example.org:9445' (from flag --listen)")]
    [InlineData(new[] { "--listen", "127.0.0.1" }, "invalid listen '127.0.0.1'")]
    [InlineData(new[] { "--memory-interval", "2s", "--interval", "1s" }, "must not be longer than interval")]
    [InlineData(new[] { "--memory-interval", "0ms" }, "invalid memory-interval '0ms'")]
    [InlineData(new[] { "--collectors", "memory,gpu-burn" }, "unknown collector 'gpu-burn'")]
    [InlineData(new[] { "--interval" }, "--interval")]
    public void Bad_agent_flags_exit_2_with_a_clear_message(string[] flags, string message)
    {
        AssertUsageError(AgentProcess.Run(["agent", .. flags]), "gputel", message);
    }

    [Fact]
    public void A_bad_environment_variable_is_named_with_its_source()
    {
        var env = new Dictionary<string, string> { ["GPUTEL_METRIC_NAMES"] = "nvidia-smi" };
        AssertUsageError(AgentProcess.Run(["agent"], env), "gputel agent", "invalid metric-names 'nvidia-smi' (from environment variable GPUTEL_METRIC_NAMES)");
    }

    [Theory]
    [InlineData("{\"architectures\": [\"Qwen2ForCausalLM\"], \"vocab_size\": 512,", "not valid JSON")]
    [InlineData("[1, 2, 3]", "expected a JSON object, found array")]
    [InlineData("{\"architectures\": [\"GPT2LMHeadModel\"], \"vocab_size\": 512}", "architectures")]
    [InlineData("{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 512, \"hidden_size\": 64, \"intermediate_size\": 176, \"num_hidden_layers\": 2}", "num_attention_heads")]
    [InlineData("{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": -5, \"hidden_size\": 64, \"intermediate_size\": 176, \"num_hidden_layers\": 2, \"num_attention_heads\": 4}", "vocab_size")]
    [InlineData("{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 512, \"hidden_size\": 64, \"intermediate_size\": 176, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 3}", "config.json")]
    public void A_bad_model_config_exits_2_and_writes_nothing(string configJson, string message)
    {
        string checkpoint = Checkpoint(configJson, safetensors: null);
        string run = Path.Combine(_dir.Path, "run");
        AssertUsageError(AgentProcess.Run(["finetune", "--checkpoint", checkpoint, "--steps", "1", "--out", run]), "gputel finetune", message);
        Assert.False(Directory.Exists(run), "the run directory was created");
    }

    [Fact]
    public void A_checkpoint_without_config_json_exits_2()
    {
        string run = Path.Combine(_dir.Path, "run");
        AssertUsageError(AgentProcess.Run(["finetune", "--checkpoint", _dir.Path, "--steps", "1", "--out", run]), "gputel finetune", "config.json");
        Assert.False(Directory.Exists(run));
    }

    public static TheoryData<string, byte[], string> BadSafetensors => new()
    {
        { "huge header length", LengthField(ulong.MaxValue), "over the" },
        { "header longer than the file", [.. LengthField(4096), .. "{}"u8.ToArray()], "only 2 follow it" },
        { "header not JSON", File("{\"a\": ", 0), "not valid JSON" },
        { "offsets out of range", File("{\"model.norm.weight\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 64]}}", 16), "outside the data section" },
        { "overlapping offsets", File("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}, \"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}", 24), "overlaps" },
        { "unknown dtype", File("{\"model.norm.weight\": {\"dtype\": \"Q7\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 16), "unknown dtype 'Q7'" },
        { "shape and size disagree", File("{\"model.norm.weight\": {\"dtype\": \"F32\", \"shape\": [3, 3], \"data_offsets\": [0, 16]}}", 16), "need 36" },
        { "negative dimension", File("{\"model.norm.weight\": {\"dtype\": \"F32\", \"shape\": [-4], \"data_offsets\": [0, 16]}}", 16), "negative" },
    };

    [Theory]
    [MemberData(nameof(BadSafetensors))]
    public void A_bad_safetensors_file_exits_2_and_writes_nothing(string what, byte[] file, string message)
    {
        string checkpoint = Checkpoint(TinyConfig, file);
        string run = Path.Combine(_dir.Path, "run");
        AssertUsageError(AgentProcess.Run(["finetune", "--checkpoint", checkpoint, "--steps", "1", "--out", run], seconds: 120), "gputel finetune", message, what);
        Assert.False(Directory.Exists(run), $"{what}: the run directory was created");
    }

    [Theory]
    [InlineData("{\"instruction\": \"hi\", \"output\": \"hello\"}\nnot json\n", "line 2: not valid JSON")]
    [InlineData("{\"instruction\": \"hi\"}\n", "line 1: missing \"output\"")]
    [InlineData("[\"instruction\", \"output\"]\n", "line 1: expected a JSON object")]
    [InlineData("{\"instruction\": 5, \"output\": \"x\"}\n", "\"instruction\" must be a string")]
    [InlineData("\n\n", "no examples")]
    public void A_bad_dataset_exits_2_and_writes_nothing(string jsonl, string message)
    {
        string data = _dir.File("data.jsonl", jsonl);
        string run = Path.Combine(_dir.Path, "run");
        AssertUsageError(AgentProcess.Run(["finetune", "--model", "tiny", "--data", data, "--steps", "1", "--out", run], seconds: 120), "gputel finetune", message);
        Assert.False(Directory.Exists(run));
    }

    [Fact]
    public void A_missing_dataset_exits_2_and_writes_nothing()
    {
        string run = Path.Combine(_dir.Path, "run");
        AssertUsageError(AgentProcess.Run(["finetune", "--model", "tiny", "--data", Path.Combine(_dir.Path, "none.jsonl"), "--out", run], seconds: 120), "gputel finetune", "no such dataset file");
        Assert.False(Directory.Exists(run));
    }

    [Fact]
    public void An_out_directory_that_holds_a_run_record_is_not_appended_to()
    {
        string run = Path.Combine(_dir.Path, "earlier");
        Directory.CreateDirectory(run);
        System.IO.File.WriteAllText(Path.Combine(run, "steps.jsonl"), "{\"step\": 0}\n");

        AssertUsageError(AgentProcess.Run(["finetune", "--model", "tiny", "--steps", "1", "--out", run]), "gputel finetune", "already holds a run record");
        Assert.Equal("{\"step\": 0}\n", System.IO.File.ReadAllText(Path.Combine(run, "steps.jsonl")));
        Assert.False(System.IO.File.Exists(Path.Combine(run, "run.json")));
    }

    [Fact]
    public void An_agent_port_in_use_is_told_in_one_line_without_a_stack_trace()
    {
        using System.Net.Sockets.TcpListener taken = LoopbackPorts.Hold(out int port);

        (int exit, string output) = AgentProcess.Run(["agent", "--listen", $"127.0.0.1:{port}"]);

        Assert.True(exit != 0, output);
        Assert.Single(output.Split('\n'), l => l.Contains($"cannot listen on 127.0.0.1:{port}", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Hosting.Internal.Host", output, StringComparison.Ordinal);
    }

    [Fact]
    public void An_out_path_that_is_a_file_is_refused_and_left_alone()
    {
        string file = _dir.File("not-a-directory", "keep me\n");

        AssertUsageError(AgentProcess.Run(["finetune", "--model", "tiny", "--steps", "1", "--out", file]), "gputel finetune", "is a file");
        Assert.Equal("keep me\n", System.IO.File.ReadAllText(file));
    }

    [Fact]
    public void A_metrics_port_in_use_is_named_and_no_run_starts()
    {
        using System.Net.Sockets.TcpListener taken = LoopbackPorts.Hold(out int port);
        string run = Path.Combine(_dir.Path, "run");

        AssertUsageError(
            AgentProcess.Run(["finetune", "--model", "tiny", "--steps", "1", "--out", run, "--metrics-listen", $"127.0.0.1:{port}"]),
            "gputel finetune",
            $"cannot serve the training gauges on 127.0.0.1:{port}");
        Assert.False(Directory.Exists(run));
    }

    private static void AssertUsageError((int ExitCode, string Output) result, string prefix, string message, string? what = null)
    {
        (int exit, string output) = result;
        string context = $"{what}\n{output}";
        Assert.True(exit == 2, $"exit {exit}, expected 2: {context}");
        Assert.Contains(message, output, StringComparison.Ordinal);
        Assert.True(output.Split('\n').Count(l => l.StartsWith(prefix, StringComparison.Ordinal) && l.Contains(message, StringComparison.Ordinal)) == 1, $"one line naming the problem: {context}");
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
    }

    private string Checkpoint(string configJson, byte[]? safetensors)
    {
        string dir = Path.Combine(_dir.Path, "checkpoint-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        System.IO.File.WriteAllText(Path.Combine(dir, "config.json"), configJson);
        if (safetensors is not null)
        {
            System.IO.File.WriteAllBytes(Path.Combine(dir, "model.safetensors"), safetensors);
        }

        return dir;
    }

    private static byte[] File(string header, int dataLength)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        return [.. LengthField((ulong)json.Length), .. json, .. new byte[dataLength]];
    }

    private static byte[] LengthField(ulong length)
    {
        var field = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(field, length);
        return field;
    }

    public void Dispose() => _dir.Dispose();
}
