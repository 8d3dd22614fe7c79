using System.Diagnostics;

namespace Gputel.Tests.Support;

/// <summary>The fake NVML driver library for child processes: built once, scripted through FAKE_NVML_SCRIPT.</summary>
internal static class FakeDriver
{
    private static readonly Lazy<string> Built = new(() =>
    {
        var psi = new ProcessStartInfo("bash", [Repo.Path("tests", "fake-nvml", "build.sh")]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"building the fake NVML driver failed: {stderr}");
        return stdout.Trim().Split('\n')[^1];
    });

    public static string LibraryPath => Built.Value;

    /// <summary>Writes <paramref name="script"/> to a file under <paramref name="directory"/> and returns the child's environment.</summary>
    public static Dictionary<string, string> Environment(string directory, string script)
    {
        string path = Path.Combine(directory, $"fake-nvml-{Guid.NewGuid():N}.txt");
        File.WriteAllText(path, script);
        return new Dictionary<string, string> { ["FAKE_NVML_SCRIPT"] = path };
    }
}
