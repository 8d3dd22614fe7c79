namespace Gputel.Tests.Support;

/// <summary>The fake NVML driver library for child processes: built once, scripted through FAKE_NVML_SCRIPT.</summary>
internal static class FakeDriver
{
    public static string LibraryPath => FakeNvmlBuild.LibraryPath;

    /// <summary>Writes <paramref name="script"/> to a file under <paramref name="directory"/> and returns the child's environment.</summary>
    public static Dictionary<string, string> Environment(string directory, string script)
    {
        string path = Path.Combine(directory, $"fake-nvml-{Guid.NewGuid():N}.txt");
        File.WriteAllText(path, script);
        return new Dictionary<string, string> { ["FAKE_NVML_SCRIPT"] = path };
    }
}
