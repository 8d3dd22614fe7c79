using System.Diagnostics;

namespace Gputel.Profiler.Tests.Reports;

/// <summary>Headless Chromium (the Debian package <c>chromium</c>), run on a file as a user's browser would open it.</summary>
internal static class Chromium
{
    public const int WindowWidth = 1100, WindowHeight = 1400;

    public static string? Path { get; } = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);

    /// <summary>Skips the calling test, saying why, when no Chromium is installed.</summary>
    public static string Require()
    {
        if (Path is null)
        {
            Assert.Skip("chromium is not installed (Debian package chromium; ./setup.sh installs it): the report page cannot be rendered");
        }

        return Path;
    }

    /// <summary>The DOM after the page's load and scripts, as Chromium serializes it.</summary>
    public static string DumpDom(string htmlFile) => Run(htmlFile, "--dump-dom");

    /// <summary>A screenshot of the page's first window-full, at one image pixel per CSS pixel.</summary>
    public static void Screenshot(string htmlFile, string png) => Run(htmlFile, $"--screenshot={png}");

    private static string Run(string htmlFile, string action)
    {
        string profile = Directory.CreateTempSubdirectory("gputel-chromium-").FullName;
        try
        {
            var start = new ProcessStartInfo(Require()) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string argument in new[]
            {
                "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                "--force-device-scale-factor=1", $"--window-size={WindowWidth},{WindowHeight}", $"--user-data-dir={profile}",
                action, new Uri(System.IO.Path.GetFullPath(htmlFile)).AbsoluteUri,
            })
            {
                start.ArgumentList.Add(argument);
            }

            using Process chromium = Process.Start(start)!;
            Task<string> stderr = chromium.StandardError.ReadToEndAsync();
            string stdout = chromium.StandardOutput.ReadToEnd();
            Assert.True(chromium.WaitForExit(TimeSpan.FromSeconds(120)), "chromium did not finish within 120 s");
            Assert.True(chromium.ExitCode == 0, $"chromium exited {chromium.ExitCode}: {stderr.Result}");
            return stdout;
        }
        finally
        {
            Directory.Delete(profile, recursive: true);
        }
    }
}
