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
        s.AppendLine("memory_temperature 71");
        s.AppendLine("encoder_util 12");
        s.AppendLine("decoder_util 34");
        s.AppendLine("pcie_replay 7");
        s.AppendLine("remapped_rows 2 1 0 0");
        s.AppendLine("nvlink_links 18");
        s.AppendLine("nvlink_kib_per_s tx 1000");
        s.AppendLine("nvlink_kib_per_s rx 2000");
        // GPM, in NVML's units (percent, MiB/s): graphics, SM, occupancy, any tensor, DRAM, HMMA, FP32, PCIe, NVLink.
        s.AppendLine("gpm_supported 1");
        s.AppendLine("gpm 1 50");
        s.AppendLine("gpm 2 40");
        s.AppendLine("gpm 3 30");
        s.AppendLine("gpm 5 42.5");
        s.AppendLine("gpm 10 20");
        s.AppendLine("gpm 7 10");
        s.AppendLine("gpm 12 5");
        s.AppendLine("gpm 20 100");
        s.AppendLine("gpm 21 200");
        s.AppendLine("gpm 60 300");
        s.AppendLine("gpm 61 400");
        s.Append(extra);
        if (extra.Length > 0 && !extra.EndsWith('\n'))
        {
            s.AppendLine();
        }

        return s.ToString();
    }

    public static string Header(string driver = "560.35.03") => $"driver_version {driver}\nnvml_version 12.{driver}\n";
}
