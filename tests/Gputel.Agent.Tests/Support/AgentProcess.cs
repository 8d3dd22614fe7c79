using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Gputel.Tests.Support;

/// <summary>
/// The real <c>gputel</c> executable run as a child process (as users run it), with its output
/// captured line by line. Killed on dispose.
/// </summary>
internal sealed class AgentProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private AgentProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { _lines.Enqueue(e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { _lines.Enqueue(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public static string GputelDll => Path.Combine(AppContext.BaseDirectory, "gputel.dll");

    public string Output => string.Join('\n', _lines);

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>
    /// Starts gputel in <paramref name="workingDirectory"/> (default: the test's own), from
    /// <paramref name="dll"/> (default: the full build beside the tests).
    /// </summary>
    public static AgentProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null, string? dll = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory ?? string.Empty };
        psi.ArgumentList.Add(dll ?? GputelDll);
        foreach (string arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        // A clean slate: no GPUTEL_* from the machine running the tests, and the JIT's slab cache as
        // users have it (test.runsettings turns it off for the test processes), so that `finetune`
        // restarts itself with it off as it does for them; no COLUMNS from the terminal the tests
        // were started in, so output is laid out as a log gets it.
        foreach (string key in psi.Environment.Keys.Where(k => k.StartsWith("GPUTEL_", StringComparison.Ordinal) || k.EndsWith("_JitHostMaxSlabCache", StringComparison.Ordinal) || k == "COLUMNS").ToList())
        {
            psi.Environment.Remove(key);
        }

        foreach ((string key, string value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[key] = value;
        }

        return new AgentProcess(Process.Start(psi)!);
    }

    /// <summary>Runs gputel to completion and returns its exit code and output.</summary>
    public static (int ExitCode, string Output) Run(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, int seconds = 60, string? workingDirectory = null, string? dll = null)
    {
        using AgentProcess p = Start(args, environment, workingDirectory, dll);
        Assert.True(p._process.WaitForExit(TimeSpan.FromSeconds(seconds)), $"gputel did not exit within {seconds} s");
        p._process.WaitForExit(); // flushes the asynchronous output readers
        return (p._process.ExitCode, p.Output);
    }

    /// <summary>The exit code and whole output of a process that has exited.</summary>
    public (int ExitCode, string Output) Finish()
    {
        _process.WaitForExit(); // flushes the asynchronous output readers
        return (_process.ExitCode, Output);
    }

    /// <summary>Waits for an output line matching <paramref name="pattern"/> and returns the match.</summary>
    public Match WaitForLine(string pattern, int seconds = 60)
    {
        var regex = new Regex(pattern);
        DateTime deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            foreach (string line in _lines)
            {
                Match m = regex.Match(line);
                if (m.Success)
                {
                    return m;
                }
            }

            if (_process.HasExited)
            {
                Assert.Fail($"gputel exited ({_process.ExitCode}) before printing /{pattern}/:\n{Output}");
            }

            Thread.Sleep(50);
        }

        Assert.Fail($"no line matching /{pattern}/ within {seconds} s:\n{Output}");
        return Match.Empty;
    }

    /// <summary>Waits until the agent listens and returns its base URL.</summary>
    public Uri WaitUntilListening() => new(WaitForLine(@"listening on (https?://[^ ,]+)").Groups[1].Value);

    /// <summary>Kills the process at once (SIGKILL on Linux: no handler, no flush) and waits for it to end.</summary>
    public void KillHard()
    {
        _process.Kill();
        _process.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process.Dispose();
    }
}
