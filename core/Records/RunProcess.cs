using System.Diagnostics;

namespace Gputel.Core.Records;

/// <summary>
/// The process that writes a run record. A pid alone can be reused after the process exits, so the
/// process's start time is kept too: a live process with the same pid, host and start time is the
/// writer.
/// </summary>
/// <param name="Pid">Process id.</param>
/// <param name="Host">Host name (<see cref="Environment.MachineName"/>).</param>
/// <param name="StartTime">When the process started (UTC).</param>
public sealed record RunProcess(int Pid, string Host, DateTimeOffset StartTime)
{
    /// <summary>The current process.</summary>
    public static RunProcess Current()
    {
        using Process self = System.Diagnostics.Process.GetCurrentProcess();
        return new RunProcess(self.Id, Environment.MachineName, self.StartTime.ToUniversalTime());
    }

    /// <summary>
    /// Whether this process is still running, as far as this machine can tell: false on another
    /// host (it cannot be checked from here), when no process has the pid, or when the process with
    /// the pid started at another time (the pid was reused).
    /// </summary>
    public bool IsAlive()
    {
        if (!string.Equals(Host, Environment.MachineName, StringComparison.Ordinal))
        {
            return false;
        }

        try
        {
            using Process process = System.Diagnostics.Process.GetProcessById(Pid);
            // Start times are derived from boot time plus clock ticks: allow for rounding.
            return !process.HasExited && (process.StartTime.ToUniversalTime() - StartTime.UtcDateTime).Duration() < TimeSpan.FromSeconds(1);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
