using System.Globalization;
using System.Text;

namespace Gputel.Tests.Support;

/// <summary>Scripts for the fake driver (format: tests/fake-nvml/SCRIPT-FORMAT.md).</summary>
internal static class Scripts
{
    public const ulong GiB = 1024UL * 1024 * 1024;

    /// <summary>A fully populated H100-like GPU block; <paramref name="extra"/> lines are appended to it.</summary>
    public static string Gpu(int index, ulong usedBytes = 10 * GiB, string extra = "")
    {
        var s = new StringBuilder();
        string i = index.ToString(CultureInfo.InvariantCulture);
        s.AppendLine($"gpu {i}");
        s.AppendLine("name NVIDIA H100 80GB HBM3");
        s.AppendLine($"uuid GPU-00000000-0000-0000-0000-00000000000{i}");
        s.AppendLine($"pci_bus_id 00000000:{index + 1:X2}:00.0");
        s.AppendLine($"minor {i}");
        s.AppendLine($"memory_total {80 * GiB}");
        s.AppendLine($"memory_reserved {GiB / 2}");
        s.AppendLine($"memory_used {usedBytes}");
        s.AppendLine("utilization 87 45");
        s.AppendLine("power_mw 350500");
        s.AppendLine("power_limit_mw 700000");
        s.AppendLine("energy_mj 123456789");
        s.AppendLine("temperature 65");
        s.AppendLine("clock graphics 1980");
        s.AppendLine("clock sm 1980");
        s.AppendLine("clock mem 2619");
        s.AppendLine("clock video 1755");
        s.AppendLine("throttle_reasons 0x5");
        s.AppendLine("pcie_tx_kbs 1000");
        s.AppendLine("pcie_rx_kbs 2000");
        s.AppendLine("ecc corrected volatile 3");
        s.AppendLine("ecc uncorrected volatile 0");
        s.AppendLine("ecc corrected aggregate 12");
        s.AppendLine("ecc uncorrected aggregate 1");
        s.Append(extra);
        if (extra.Length > 0 && !extra.EndsWith('\n'))
        {
            s.AppendLine();
        }

        return s.ToString();
    }

    public static string Header(string driver = "560.35.03") => $"driver_version {driver}\nnvml_version 12.{driver}\n";
}
