using System.Globalization;
using System.Runtime.InteropServices;

namespace Gputel.Bench.Agent;

/// <summary>One line saying where and when a result was taken, since timings mean little without it.</summary>
internal static class MachineInfo
{
    public static string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"machine: {CpuModel()}, {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, .NET {Environment.Version}; date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");

    private static string CpuModel()
    {
        const string Key = "model name";
        string? line = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith(Key, StringComparison.Ordinal))
            : null;
        return line is null ? RuntimeInformation.ProcessArchitecture.ToString() : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
    }
}
