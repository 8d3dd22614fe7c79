using System.Globalization;
using System.Text;

namespace Gputel.Bench.Rig;

/// <summary>
/// A fake-driver script (tests/fake-nvml/SCRIPT-FORMAT.md) for a busy 8-GPU node: every sensor the
/// collectors read is set, so every collector produces its full set of series, and each GPU runs
/// <see cref="ProcessesPerGpu"/> processes.
/// </summary>
internal static class FakeGpuScript
{
    public const int Gpus = 8;
    public const int ProcessesPerGpu = 32;

    private const ulong GiB = 1UL << 30;

    /// <summary>Writes the script for the given process ids (<see cref="Gpus"/> x <see cref="ProcessesPerGpu"/>) to a temporary file.</summary>
    public static string WriteTempFile(IReadOnlyList<int> pids)
    {
        string path = Path.Combine(Path.GetTempPath(), $"gputel-bench-{Environment.ProcessId}.nvml");
        File.WriteAllText(path, Build(pids));
        return path;
    }

    private static string Build(IReadOnlyList<int> pids)
    {
        ArgumentNullException.ThrowIfNull(pids);
        if (pids.Count != Gpus * ProcessesPerGpu)
        {
            throw new ArgumentException($"need {Gpus * ProcessesPerGpu} pids, got {pids.Count}", nameof(pids));
        }

        var s = new StringBuilder();
        s.AppendLine("driver_version 560.35.03");
        s.AppendLine("nvml_version 12.560.35.03");
        for (int gpu = 0; gpu < Gpus; gpu++)
        {
            AppendGpu(s, gpu, pids.Skip(gpu * ProcessesPerGpu).Take(ProcessesPerGpu));
        }

        return s.ToString();
    }

    private static void AppendGpu(StringBuilder s, int gpu, IEnumerable<int> pids)
    {
        IFormatProvider c = CultureInfo.InvariantCulture;
        s.AppendLine(c, $"gpu {gpu}");
        s.AppendLine("name NVIDIA H100 80GB HBM3");
        s.AppendLine(c, $"uuid GPU-{gpu:x8}-0000-4000-8000-000000000000");
        s.AppendLine(c, $"pci_bus_id 00000000:{0x18 + (0x10 * gpu):X2}:00.0");
        s.AppendLine(c, $"minor {gpu}");
        s.AppendLine(c, $"memory_total {80 * GiB}");
        s.AppendLine(c, $"memory_reserved {GiB / 2}");
        // Used memory moves every 50 ms, so the 10 ms sampler keeps updating the peak.
        s.AppendLine(c, $"memory_timeline 0:{40 * GiB} 50:{60 * GiB}");
        s.AppendLine("memory_timeline_period 100");
        s.AppendLine("utilization 87 45");
        s.AppendLine("power_mw 550000");
        s.AppendLine("power_limit_mw 700000");
        s.AppendLine("energy_mj 1000000000");
        s.AppendLine("temperature 61");
        s.AppendLine("clock graphics 1980");
        s.AppendLine("clock sm 1980");
        s.AppendLine("clock mem 2619");
        s.AppendLine("clock video 1545");
        s.AppendLine("throttle_reasons 0x1");
        s.AppendLine("pcie_tx_kbs 1200000");
        s.AppendLine("pcie_rx_kbs 3400000");
        s.AppendLine("ecc corrected volatile 3");
        s.AppendLine("ecc uncorrected volatile 0");
        s.AppendLine("ecc corrected aggregate 12");
        s.AppendLine("ecc uncorrected aggregate 0");
        foreach (int pid in pids)
        {
            s.AppendLine(c, $"process compute {pid} {2 * GiB}");
        }
    }
}
