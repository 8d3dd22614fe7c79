using System.Diagnostics;
using Gputel.Collector.Exposition;
using Gputel.Tests.Support;

namespace Gputel.Collector.Tests;

/// <summary>
/// <c>promtool check metrics</c> (from the Debian <c>prometheus</c> package) on the real exposition.
/// The default profile must pass with no complaint. The dcgm profile reproduces dcgm-exporter's
/// names and labels exactly, and promtool's linter objects to some of those in dcgm-exporter's own
/// output; those complaints, and only those, are expected.
/// </summary>
[Collection(FakeNvmlCollection.Name)]
public sealed class PromtoolTests
{
    /// <summary>Lint findings that dcgm-exporter's own naming causes (counters without <c>_total</c>, <c>modelName</c>).</summary>
    private static readonly string[] InheritedFromDcgmExporter =
    [
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter metrics should have \"_total\" suffix",
        "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL counter metrics should have \"_total\" suffix",
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL counter metrics should have \"_total\" suffix",
        "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL counter metrics should have \"_total\" suffix",
        "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL counter metrics should have \"_total\" suffix",
        "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS counter metrics should have \"_total\" suffix",
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS counter metrics should have \"_total\" suffix",
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL counter metrics should have \"_total\" suffix",
        "DCGM_FI_DEV_PCIE_REPLAY_COUNTER counter metrics should have \"_total\" suffix",
        "DCGM_FI_DEV_PCIE_REPLAY_COUNTER metric name should not include type 'counter'",
    ];

    [Fact]
    public async Task Default_profile_passes_promtool_with_no_complaint()
    {
        (int exit, string output) = Promtool(await ExpositionTests.GoldenExpositionAsync(NamingProfile.Default));

        Assert.Equal("", output);
        Assert.Equal(0, exit);
    }

    [Fact]
    public async Task Dcgm_profile_parses_and_has_only_the_complaints_dcgm_exporter_itself_has()
    {
        (int exit, string output) = Promtool(await ExpositionTests.GoldenExpositionAsync(NamingProfile.Dcgm));

        string[] complaints = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.NotEqual(1, exit); // 1 would be a parse error; 3 is lint findings only.
        Assert.All(complaints, c => Assert.True(
            InheritedFromDcgmExporter.Contains(c) || c.EndsWith("label names should be written in 'snake_case' not 'camelCase'", StringComparison.Ordinal),
            $"unexpected promtool complaint: {c}"));
    }

    private static (int Exit, string Output) Promtool(string exposition)
    {
        string? promtool = new[] { "/usr/bin/promtool", "/usr/local/bin/promtool" }.FirstOrDefault(File.Exists);
        Assert.SkipWhen(promtool is null, "promtool is not installed (Debian package 'prometheus'; ./setup.sh installs it)");
        var psi = new ProcessStartInfo(promtool!, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process process = Process.Start(psi)!;
        process.StandardInput.Write(exposition);
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, (stdout.Result + stderr).Trim());
    }
}
