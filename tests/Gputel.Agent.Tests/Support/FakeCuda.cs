namespace Gputel.Tests.Support;

/// <summary>Builds the fake CUDA driver (tests/fake-cuda/build.sh) once per test process; gives the directory for a child's LD_LIBRARY_PATH.</summary>
internal static class FakeCuda
{
    private static readonly Lazy<string> Built = new(() => BuildScript.Run(Repo.Path("tests", "fake-cuda", "build.sh"), "the fake CUDA driver"));

    /// <summary>The directory holding the fake <c>libcuda.so.1</c>.</summary>
    public static string Directory => Built.Value;

    /// <summary>A child's environment with the fake driver first on its library path and <paramref name="devices"/> devices.</summary>
    public static Dictionary<string, string> Environment(int devices = 1) => new()
    {
        ["LD_LIBRARY_PATH"] = Directory,
        ["FAKE_CUDA_DEVICES"] = devices.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
