using System.Diagnostics;

namespace Gputel.Tests.Support;

/// <summary>Builds the fake CUDA driver (tests/fake-cuda/build.sh) once per test process; gives the directory for a child's LD_LIBRARY_PATH.</summary>
internal static class FakeCuda
{
    private static readonly Lazy<string> Built = new(Build);

    /// <summary>The directory holding the fake <c>libcuda.so.1</c>.</summary>
    public static string Directory => Built.Value;

    /// <summary>A child's environment with the fake driver first on its library path and <paramref name="devices"/> devices.</summary>
    public static Dictionary<string, string> Environment(int devices = 1) => new()
    {
        ["LD_LIBRARY_PATH"] = Directory,
        ["FAKE_CUDA_DEVICES"] = devices.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static string Build()
    {
        var psi = new ProcessStartInfo("sh", [Repo.Path("tests", "fake-cuda", "build.sh")]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process process = Process.Start(psi)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"building the fake CUDA driver failed: {stderr.Result}");
        }

        return stdout.Trim().Split('\n')[^1];
    }
}
