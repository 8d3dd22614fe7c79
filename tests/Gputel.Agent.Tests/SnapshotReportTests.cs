using System.Text.Json;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary><c>gputel report SNAPSHOT.pickle</c> as users run it on a PyTorch memory snapshot.</summary>
public sealed class SnapshotReportTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string RealSnapshot()
    {
        string source = Path.Combine(Repo.Root, "..", "shared", "reference", "pytorch-snapshots", "cnn-training.pickle");
        Assert.SkipUnless(File.Exists(source), "the reference snapshots are not beside the repository (../shared/reference/pytorch-snapshots)");
        string copy = Path.Combine(_dir.Path, "cnn.pickle");
        File.Copy(source, copy);
        return copy;
    }

    [Fact]
    public void A_snapshot_is_reported_beside_it_in_the_run_records_four_files()
    {
        string snapshot = RealSnapshot();

        (int exit, string output) = AgentProcess.Run(["report", snapshot]);

        Assert.True(exit == 0, output);
        string reportDir = Path.Combine(_dir.Path, "cnn-report");
        foreach (string file in new[] { "report.html", "report.md", "report.png", "summary.json" })
        {
            Assert.True(new FileInfo(Path.Combine(reportDir, file)).Length > 0, file);
            Assert.Contains(Path.Combine(reportDir, file), output, StringComparison.Ordinal);
        }

        using JsonDocument summary = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(reportDir, "summary.json")));
        JsonElement root = summary.RootElement, peak = root.GetProperty("peak");
        Assert.Equal("pytorch_snapshot", root.GetProperty("source").GetString());
        Assert.True(peak.GetProperty("allocator_bytes").GetInt64() > 0);
        Assert.Equal(peak.GetProperty("total_bytes").GetInt64(), peak.GetProperty("bytes").EnumerateObject().Sum(p => p.Value.GetInt64()));
        Assert.True(root.GetProperty("phase_peaks").GetArrayLength() >= 3);
        Assert.True(root.GetProperty("allocation_sites").GetArrayLength() > 0);
    }

    [Fact]
    public void Out_takes_the_report_elsewhere()
    {
        string snapshot = RealSnapshot(), output = Path.Combine(_dir.Path, "there");

        (int exit, _) = AgentProcess.Run(["report", snapshot, "--out", output]);

        Assert.Equal(0, exit);
        Assert.Equal(["report.html", "report.md", "report.png", "summary.json"], Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.False(Directory.Exists(Path.Combine(_dir.Path, "cnn-report")));
    }

    [Theory]
    [InlineData("not a pickle at all\n", "is not a readable pickle")]
    [InlineData("80025d7100284b014b02652e", "is a pickle but not a PyTorch memory snapshot")] // [1, 2]
    [InlineData("truncated", "is not a readable pickle")]
    public void A_file_that_is_no_snapshot_is_refused_in_one_line_and_nothing_is_written(string content, string expected)
    {
        string path = Path.Combine(_dir.Path, "bad.pickle");
        if (content == "truncated")
        {
            byte[] whole = File.ReadAllBytes(RealSnapshot());
            File.WriteAllBytes(path, whole[..(whole.Length / 2)]);
        }
        else if (content.All(Uri.IsHexDigit))
        {
            File.WriteAllBytes(path, Convert.FromHexString(content));
        }
        else
        {
            File.WriteAllText(path, content);
        }

        string[] before = Directory.GetFileSystemEntries(_dir.Path);
        (int exit, string output) = AgentProcess.Run(["report", path]);

        Assert.Equal(2, exit);
        string line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("gputel report: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.Equal(before, Directory.GetFileSystemEntries(_dir.Path));
    }
}
