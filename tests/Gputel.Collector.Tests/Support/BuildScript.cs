using System.Diagnostics;

namespace Gputel.Tests.Support;

/// <summary>Runs a test fixture's build script (the fake drivers') and gives the last line it prints: the path it built.</summary>
internal static class BuildScript
{
    /// <summary>Runs <paramref name="script"/> with sh and <paramref name="arguments"/>; throws, naming <paramref name="what"/> and the script's errors, where it fails.</summary>
    public static string Run(string script, string what, params string[] arguments)
    {
        var psi = new ProcessStartInfo("sh", [script, .. arguments]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process process = Process.Start(psi)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"building {what} failed: {stderr.Result}");
        }

        return stdout.Trim().Split('\n')[^1];
    }
}
