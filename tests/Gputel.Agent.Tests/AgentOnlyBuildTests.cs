using System.Text.Json;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary>
/// The deployable build (<c>-p:AgentOnly=true</c>: no libtorch), as the container image, the systemd
/// steps and GPU hosts ship it. <c>test.sh</c> builds it before the tests; run alone, these tests
/// skip and say how to build it.
/// </summary>
public sealed class AgentOnlyBuildTests : IDisposable
{
    private static readonly string Directory_ = Repo.Path("agent", "bin", "agent-only", "Release", "net10.0");
    private static readonly string Dll = Path.Combine(Directory_, "gputel.dll");
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static void RequireBuild() =>
        Assert.SkipUnless(File.Exists(Dll), $"the agent-only build is not there ({Dll}); test.sh builds it: dotnet build agent -c Release -p:AgentOnly=true");

    [Fact]
    public void Carries_no_libtorch_and_offers_every_command_but_finetune()
    {
        RequireBuild();
        string[] torch = Directory.GetFiles(Directory_, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f).Contains("torch", StringComparison.OrdinalIgnoreCase)).ToArray();
        Assert.Empty(torch);

        (int exit, string output) = AgentProcess.Run(["--help"], dll: Dll);

        Assert.Equal(0, exit);
        foreach (string command in new[] { "agent", "devices", "estimate", "fit", "report" })
        {
            Assert.Matches($@"(?m)^\s+{command}\b", output);
        }

        Assert.DoesNotMatch(@"(?m)^\s+finetune\b", output);
    }

    [Fact]
    public void Estimates_as_the_full_build_does()
    {
        RequireBuild();
        string[] args = ["estimate", "--model", "qwen2-1.5b", "--method", "full", "--cutoff-len", "512", "--json"];

        (int exit, string output) = AgentProcess.Run(args, dll: Dll);
        (int fullExit, string full) = AgentProcess.Run(args);

        Assert.Equal(0, exit);
        Assert.Equal(0, fullExit);
        using JsonDocument agentOnly = JsonDocument.Parse(output), reference = JsonDocument.Parse(full);
        Assert.Equal(reference.RootElement.GetProperty("peak_bytes").GetInt64(), agentOnly.RootElement.GetProperty("peak_bytes").GetInt64());
        Assert.True(agentOnly.RootElement.GetProperty("peak_bytes").GetInt64() > 0);
    }

    [Fact]
    public void Measures_a_dataset_and_fits_as_the_full_build_does()
    {
        RequireBuild();
        string model = Path.Combine(_dir.Path, "model");
        ByteLevelTokenizerFile.Write(model);
        File.WriteAllText(Path.Combine(model, "config.json"), """
            {"architectures": ["LlamaForCausalLM"], "vocab_size": 512, "hidden_size": 64, "intermediate_size": 176,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096}
            """);
        string data = _dir.File("data.jsonl", string.Join('\n', Enumerable.Range(1, 20).Select(n => JsonSerializer.Serialize(new { instruction = "q", output = new string('a', 2 * n) }))));

        foreach (string[] args in new[] { new[] { "estimate", "--model", model, "--data", data, "--json" }, ["fit", "--gpu-memory", "2GiB", "--model", model, "--data", data, "--json"] })
        {
            (int exit, string output) = AgentProcess.Run(args, dll: Dll);
            (int fullExit, string full) = AgentProcess.Run(args);

            Assert.True(exit == 0, output);
            Assert.True(fullExit == 0, full);
            Assert.Equal(full, output);
            Assert.Contains("\"max\": 55", output, StringComparison.Ordinal); // 34 prompt + 20 + 1 end tokens
        }
    }

    [Fact]
    public void A_cpu_estimate_says_it_cannot_measure_the_runtime_here()
    {
        RequireBuild();

        (int exit, string output) = AgentProcess.Run(["estimate", "--model", "tiny", "--device", "cpu"], dll: Dll);

        Assert.Equal(0, exit);
        Assert.Contains("runtime not measured (this build has no libtorch", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Reports_a_run_record()
    {
        RequireBuild();
        string run = Path.Combine(_dir.Path, "run");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, "run.json"),
            """{"run_id":"agent-only","model":"tiny","method":"lora","dtype":"fp32","device":"cuda:0","start_time":"2026-01-01T00:00:00Z","settings":{},"versions":{}}""");
        File.WriteAllLines(Path.Combine(run, "steps.jsonl"),
        [
            """{"time":"2026-01-01T00:00:01Z","step":0,"phase":"forward","seconds":0.5,"bytes":{"weights":1048576,"activations":65536},"allocator_bytes":1114112,"peak_bytes":1200000,"loss":null}""",
            """{"time":"2026-01-01T00:00:02Z","step":0,"phase":"backward","seconds":0.5,"bytes":{"weights":1048576,"gradients":4096},"allocator_bytes":1052672,"peak_bytes":1150000,"loss":null}""",
        ]);

        (int exit, string output) = AgentProcess.Run(["report", run], dll: Dll);

        Assert.True(exit == 0, output);
        foreach (string file in new[] { "report.html", "report.md", "report.png", "summary.json" })
        {
            Assert.True(new FileInfo(Path.Combine(run, file)).Length > 0, file);
        }

        using JsonDocument summary = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(run, "summary.json")));
        Assert.Equal("forward", summary.RootElement.GetProperty("peak").GetProperty("phase").GetString());
        Assert.Equal("cuda:0", summary.RootElement.GetProperty("device").GetString());
    }
}
