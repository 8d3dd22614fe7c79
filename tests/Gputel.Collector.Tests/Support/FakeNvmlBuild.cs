using System.Diagnostics;

namespace Gputel.Tests.Support;

/// <summary>Builds the fake NVML driver (tests/fake-nvml/build.sh) once per test process and gives its path.</summary>
internal static class FakeNvmlBuild
{
    private static readonly Lazy<string> Built = new(Build);

    public static string LibraryPath => Built.Value;

    private static string Build()
    {
        var psi = new ProcessStartInfo("bash", [Repo.Path("tests", "fake-nvml", "build.sh")]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process process = Process.Start(psi)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"building the fake NVML driver failed: {stderr.Result}");
        }

        return stdout.Trim().Split('\n')[^1];
    }
}
