using System.Diagnostics;

namespace Gputel.Bench.Rig;

/// <summary>
/// Real, idle processes whose pids the fake GPUs report as their users. The agent reads
/// /proc/PID of every GPU process each second; with pids that do not exist it would take the
/// vanished-process path (a caught exception per process) and the benchmark would measure that
/// instead of the normal case.
/// </summary>
internal sealed class StandInProcesses : IDisposable
{
    private readonly List<Process> _processes = [];

    public StandInProcesses(int count)
    {
        try
        {
            for (int i = 0; i < count; i++)
            {
                // A bounded sleep, so that a benchmark killed before Dispose leaves nothing behind for long.
                _processes.Add(Process.Start("sleep", "3600"));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public IReadOnlyList<int> Pids => _processes.Select(p => p.Id).ToArray();

    public void Dispose()
    {
        foreach (Process process in _processes)
        {
            process.Kill();
            process.WaitForExit();
            process.Dispose();
        }

        _processes.Clear();
    }
}
