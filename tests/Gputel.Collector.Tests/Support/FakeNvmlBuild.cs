namespace Gputel.Tests.Support;

/// <summary>Builds the fake NVML driver (tests/fake-nvml/build.sh) once per test process and gives its path.</summary>
internal static class FakeNvmlBuild
{
    private static readonly Lazy<string> Built = new(() => BuildScript.Run(Repo.Path("tests", "fake-nvml", "build.sh"), "the fake NVML driver"));

    public static string LibraryPath => Built.Value;
}
