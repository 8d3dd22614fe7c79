using System.Diagnostics;

namespace Gputel.Bench.Rig;

/// <summary>Where the things the benchmarks need live in the checkout.</summary>
internal static class RepoPaths
{
    /// <summary>
    /// The checkout's root (the folder with Telemetry.sln). BenchmarkDotNet runs benchmarks from a
    /// generated project in a folder of its own, so both the binary's folder and the working
    /// folder are tried.
    /// </summary>
    public static string Root { get; } = FindRoot();

    public static string FakeDriverBuildScript => Path.Combine(Root, "tests", "fake-nvml", "build.sh");

    public static string AgentDll => Path.Combine(Root, "agent", "bin", "Release", "net10.0", "gputel.dll");

    /// <summary>Builds the fake NVML driver if needed (build.sh rebuilds only what changed) and returns its path.</summary>
    public static string BuildFakeDriver()
    {
        var start = new ProcessStartInfo("sh", [FakeDriverBuildScript])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process build = Process.Start(start) ?? throw new InvalidOperationException("could not start sh");
        Task<string> stderr = build.StandardError.ReadToEndAsync();
        string stdout = build.StandardOutput.ReadToEnd();
        build.WaitForExit();
        if (build.ExitCode != 0)
        {
            throw new InvalidOperationException($"{FakeDriverBuildScript} failed ({build.ExitCode}): {stderr.Result}");
        }

        // build.sh prints the library's path as its last line.
        return stdout.Trim().Split('\n')[^1];
    }

    private static string FindRoot()
    {
        foreach (string start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (DirectoryInfo? dir = new(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Telemetry.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException(
            $"no Telemetry.sln above {AppContext.BaseDirectory} or {Environment.CurrentDirectory}: run the benchmarks from the checkout");
    }
}
