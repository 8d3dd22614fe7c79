using System.Diagnostics;
using System.Text.RegularExpressions;
using Gputel.Bench.Rig;

namespace Gputel.Bench.Agent;

/// <summary>
/// The real agent (the Release gputel.dll) running on a fake node, listening on a free port.
/// Disposing kills it.
/// </summary>
internal sealed partial class AgentProcess : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private const int OutputLinesKept = 20;

    private readonly Process _process;
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Queue<string> _recentOutput = new();

    private AgentProcess(Process process) => _process = process;

    public int Pid => _process.Id;

    public Uri MetricsUri { get; private set; } = null!;

    /// <summary>Starts the agent with <paramref name="extraArguments"/> and waits until it listens.</summary>
    public static async Task<AgentProcess> StartAsync(FakeGpuNode node, params string[] extraArguments)
    {
        if (!File.Exists(RepoPaths.AgentDll))
        {
            throw new InvalidOperationException($"{RepoPaths.AgentDll} not found: build it first (dotnet build -c Release agent/Gputel.Agent.csproj, or bench/run.sh)");
        }

        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in (string[])[RepoPaths.AgentDll, "agent", "--listen", "127.0.0.1:0", "--nvml-library", node.LibraryPath, .. extraArguments])
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment[FakeGpuNode.ScriptVariable] = node.ScriptPath;
        var agent = new AgentProcess(Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet"));
        try
        {
            await agent.WaitUntilListeningAsync().ConfigureAwait(false);
            await agent.CheckSeesAllGpusAsync().ConfigureAwait(false);
        }
        catch
        {
            agent.Dispose();
            throw;
        }

        return agent;
    }

    private async Task WaitUntilListeningAsync()
    {
        // Both streams are read to the end, not only until the address shows: a full pipe would stall the agent.
        _process.OutputDataReceived += (_, e) => OnOutput(e.Data);
        _process.ErrorDataReceived += (_, e) => OnOutput(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        Task exited = _process.WaitForExitAsync();
        Task first = await Task.WhenAny(_listening.Task, exited, Task.Delay(StartTimeout)).ConfigureAwait(false);
        if (first != _listening.Task)
        {
            string why = first == exited ? $"exited with {_process.ExitCode}" : $"did not listen within {StartTimeout.TotalSeconds:0} s";
            throw new InvalidOperationException($"the agent {why}; its last output:\n{RecentOutput()}");
        }

        MetricsUri = new Uri(await _listening.Task.ConfigureAwait(false), "/metrics");
    }

    // An agent that found no GPUs (a wrong library or script path) answers fast and would make a
    // latency or CPU figure look far better than it is.
    private async Task CheckSeesAllGpusAsync()
    {
        using var client = new HttpClient();
        string body = await client.GetStringAsync(MetricsUri).ConfigureAwait(false);
        if (!body.Contains($"\ntelemetry_gpus {FakeGpuScript.Gpus}\n", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"the agent does not report {FakeGpuScript.Gpus} GPUs; its last output:\n{RecentOutput()}");
        }
    }

    private void OnOutput(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_recentOutput)
        {
            _recentOutput.Enqueue(line);
            if (_recentOutput.Count > OutputLinesKept)
            {
                _recentOutput.Dequeue();
            }
        }

        Match listening = ListeningLine().Match(line);
        if (listening.Success)
        {
            _listening.TrySetResult(new Uri(listening.Groups[1].Value));
        }
    }

    private string RecentOutput()
    {
        lock (_recentOutput)
        {
            return string.Join('\n', _recentOutput);
        }
    }

    [GeneratedRegex(@"listening on (http://[^\s,]+)")]
    private static partial Regex ListeningLine();

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process.Dispose();
    }
}
