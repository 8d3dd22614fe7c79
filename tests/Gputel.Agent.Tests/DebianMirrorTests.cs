using System.Diagnostics;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary>
/// tools/debian-mirror.sh, which setup.sh asks for the mirror of its Debian 13 line: run on apt
/// directories written here, in both formats apt reads.
/// </summary>
public sealed class DebianMirrorTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Takes_the_archive_from_a_one_line_sources_list_past_comments_sources_options_and_security()
    {
        Write("sources.list", """
            # deb http://commented.example/debian bookworm main
            deb-src http://source.example/debian bookworm main
            deb http://security.debian.org/debian-security bookworm-security main
            deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian/ bookworm main contrib
            deb http://second.example/debian bookworm main
            """);

        Assert.Equal((0, "http://mirror.example/debian"), Mirror());
    }

    [Fact]
    public void Takes_the_archive_from_deb822_stanzas_past_disabled_ones_and_continued_fields()
    {
        Write("sources.list.d/debian.sources", """
            Types: deb
            URIs: http://disabled.example/debian
            Suites: bookworm
            Components: main
            Enabled: no

            # the machine's own archive
            Types: deb-src deb
            URIs:
             http://proxy.example:3142/debian
             http://other.example/debian
            Suites: bookworm-security bookworm-updates
            Components: main
            Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
            """);

        Assert.Equal((0, "http://proxy.example:3142/debian"), Mirror());
    }

    [Fact]
    public void Reads_sources_list_first_then_sources_list_d_in_name_order_whatever_the_format()
    {
        Write("sources.list.d/b.list", "deb http://b.example/debian trixie main\n");
        Write("sources.list.d/a.sources", "Types: deb\nURIs: http://a.example/debian\nSuites: stable\nComponents: main\n");
        Assert.Equal((0, "http://a.example/debian"), Mirror());

        Write("sources.list", "deb http://first.example/debian sid main\n");
        Assert.Equal((0, "http://first.example/debian"), Mirror());
    }

    [Fact]
    public void Third_party_and_disabled_files_are_not_the_archive_and_then_it_says_so()
    {
        Write("sources.list.d/google-cloud-sdk.list", "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n");
        Write("sources.list.d/nodesource.sources", "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\n");
        Write("sources.list.d/ubuntu.list", "deb http://archive.ubuntu.com/ubuntu jammy main\ndeb cdrom:[Debian 12]/ bookworm main\n");
        Write("sources.list.d/debian.list.disabled", "deb http://renamed.example/debian bookworm main\n");
        Write("sources.list.d/debian.list.save", "deb http://saved.example/debian bookworm main\n");

        (int exit, string output) = Mirror();

        Assert.Equal(1, exit);
        Assert.Equal($"debian-mirror: no Debian archive entry (type deb, a Debian suite) in {_dir.Path}/sources.list or {_dir.Path}/sources.list.d/", output);
    }

    [Fact]
    public void An_empty_apt_directory_has_no_mirror()
    {
        Assert.Equal(1, Mirror().Exit);
    }

    private void Write(string relative, string text)
    {
        string path = Path.Combine(_dir.Path, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text.EndsWith('\n') ? text : text + "\n");
    }

    private (int Exit, string Output) Mirror()
    {
        var psi = new ProcessStartInfo("sh", [Repo.Path("tools", "debian-mirror.sh"), _dir.Path]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process process = Process.Start(psi)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, (stdout + stderr.Result).Trim());
    }
}
