namespace Gputel.Collector.Model;

/// <summary>
/// The catalogue of everything the GPU collectors measure: the default names (docs/METRICS.md, base
/// units) and the dcgm-exporter 4.8 field each maps to in the <c>dcgm</c> profile.
/// </summary>
public static class GpuMetrics
{
    private const double MiB = 1.0 / (1024 * 1024);
    private static readonly MetricKind G = MetricKind.Gauge;
    private static readonly MetricKind C = MetricKind.Counter;

    /// <summary>Total device memory.</summary>
    public static readonly MetricDescriptor MemoryTotal = new("gpu_memory_total_bytes", "Total device memory in bytes.", G)
    { PerMigInstance = true, Dcgm = new("DCGM_FI_DEV_FB_TOTAL", G, "Framebuffer memory total (in MiB).", MiB, Integer: true) };

    /// <summary>Allocated device memory.</summary>
    public static readonly MetricDescriptor MemoryUsed = new("gpu_memory_used_bytes", "Device memory allocated, in bytes, at the last high-frequency sample.", G)
    { PerMigInstance = true, Dcgm = new("DCGM_FI_DEV_FB_USED", G, "Framebuffer memory used (in MiB).", MiB, Integer: true) };

    /// <summary>Unallocated device memory.</summary>
    public static readonly MetricDescriptor MemoryFree = new("gpu_memory_free_bytes", "Device memory free, in bytes.", G)
    { PerMigInstance = true, Dcgm = new("DCGM_FI_DEV_FB_FREE", G, "Framebuffer memory free (in MiB).", MiB, Integer: true) };

    /// <summary>Memory the driver and firmware reserve.</summary>
    public static readonly MetricDescriptor MemoryReserved = new("gpu_memory_reserved_bytes", "Device memory reserved by the driver and firmware, in bytes.", G)
    { PerMigInstance = true, Dcgm = new("DCGM_FI_DEV_FB_RESERVED", G, "Framebuffer memory reserved (in MiB).", MiB, Integer: true) };

    /// <summary>The highest used memory among the high-frequency samples since the previous scrape.</summary>
    public static readonly MetricDescriptor MemoryUsedPeak = new("gpu_memory_used_peak_bytes", "Highest device memory used, in bytes, among the high-frequency samples since the previous scrape.", G)
    { PerMigInstance = true };

    /// <summary>Share of time a kernel ran.</summary>
    public static readonly MetricDescriptor Utilization = new("gpu_utilization_ratio", "Share of the last sample period during which a kernel was running (0-1).", G)
    { Dcgm = new("DCGM_FI_DEV_GPU_UTIL", G, "GPU utilization (in %).", 100, Integer: true) };

    /// <summary>Share of time device memory was read or written.</summary>
    public static readonly MetricDescriptor MemoryUtilization = new("gpu_memory_utilization_ratio", "Share of the last sample period during which device memory was read or written (0-1).", G)
    { Dcgm = new("DCGM_FI_DEV_MEM_COPY_UTIL", G, "Memory utilization (in %).", 100, Integer: true) };

    /// <summary>Board power draw.</summary>
    public static readonly MetricDescriptor Power = new("gpu_power_watts", "Power draw in watts.", G)
    { Dcgm = new("DCGM_FI_DEV_POWER_USAGE", G, "Power draw (in W).") };

    /// <summary>Enforced power limit.</summary>
    public static readonly MetricDescriptor PowerLimit = new("gpu_power_limit_watts", "Enforced power limit in watts.", G)
    { Dcgm = new("DCGM_FI_DEV_POWER_MGMT_LIMIT", G, "Power management limit (in W).") };

    /// <summary>Energy since the driver loaded.</summary>
    public static readonly MetricDescriptor Energy = new("gpu_energy_joules_total", "Energy consumed since the driver was loaded, in joules.", C)
    { Dcgm = new("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", C, "Total energy consumption since boot (in mJ).", 1000, Integer: true) };

    /// <summary>GPU die temperature.</summary>
    public static readonly MetricDescriptor Temperature = new("gpu_temperature_celsius", "GPU temperature in degrees Celsius.", G)
    { Dcgm = new("DCGM_FI_DEV_GPU_TEMP", G, "GPU temperature (in C).") };

    /// <summary>Clock of each domain.</summary>
    public static readonly MetricDescriptor ClockGraphics = Clock("graphics", null);

    /// <summary>SM clock.</summary>
    public static readonly MetricDescriptor ClockSm = Clock("sm", new("DCGM_FI_DEV_SM_CLOCK", G, "SM clock frequency (in MHz).", 1e-6));

    /// <summary>Memory clock.</summary>
    public static readonly MetricDescriptor ClockMemory = Clock("memory", new("DCGM_FI_DEV_MEM_CLOCK", G, "Memory clock frequency (in MHz).", 1e-6));

    /// <summary>Video clock.</summary>
    public static readonly MetricDescriptor ClockVideo = Clock("video", new("DCGM_FI_DEV_VIDEO_CLOCK", G, "Video encoder/decoder clock (in MHz).", 1e-6));

    /// <summary>The raw clock event (throttle) reason mask; dcgm profile only.</summary>
    public static readonly MetricDescriptor ThrottleMask = new(null, "Clock event reason bit mask.", G)
    { Dcgm = new("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", G, "Current clock event reasons (bit mask of nvmlClocksEventReason*).") };

    /// <summary>Each throttle reason as 0/1, in bit order of nvmlClocksEventReason*.</summary>
    public static readonly IReadOnlyList<(ulong Bit, MetricDescriptor Metric)> ThrottleReasons =
    [
        Reason(0x1, "gpu_idle"),
        Reason(0x2, "applications_clocks_setting"),
        Reason(0x4, "sw_power_cap"),
        Reason(0x8, "hw_slowdown"),
        Reason(0x10, "sync_boost"),
        Reason(0x20, "sw_thermal_slowdown"),
        Reason(0x40, "hw_thermal_slowdown"),
        Reason(0x80, "hw_power_brake_slowdown"),
        Reason(0x100, "display_clock_setting"),
    ];

    /// <summary>PCIe transmit throughput.</summary>
    public static readonly MetricDescriptor PcieTx = new("gpu_pcie_bytes_per_second", "PCIe throughput in bytes per second over NVML's last 20 ms window.", G, "direction", "tx")
    { Dcgm = new("DCGM_FI_DEV_PCIE_TX_THROUGHPUT", G, "PCIe TX utilization information (in KB/s).", 1.0 / 1024, Integer: true) };

    /// <summary>PCIe receive throughput.</summary>
    public static readonly MetricDescriptor PcieRx = new("gpu_pcie_bytes_per_second", "PCIe throughput in bytes per second over NVML's last 20 ms window.", G, "direction", "rx")
    { Dcgm = new("DCGM_FI_DEV_PCIE_RX_THROUGHPUT", G, "PCIe RX utilization information (in KB/s).", 1.0 / 1024, Integer: true) };

    /// <summary>ECC errors, one descriptor per NVML counter.</summary>
    public static readonly MetricDescriptor EccCorrectedVolatile = Ecc("corrected_volatile", "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "Total number of single-bit volatile ECC errors.");

    /// <summary>Uncorrected ECC errors since the driver loaded.</summary>
    public static readonly MetricDescriptor EccUncorrectedVolatile = Ecc("uncorrected_volatile", "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "Total number of double-bit volatile ECC errors.");

    /// <summary>Corrected ECC errors over the board's life.</summary>
    public static readonly MetricDescriptor EccCorrectedAggregate = Ecc("corrected_aggregate", "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", "Total number of single-bit persistent ECC errors.");

    /// <summary>Uncorrected ECC errors over the board's life.</summary>
    public static readonly MetricDescriptor EccUncorrectedAggregate = Ecc("uncorrected_aggregate", "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", "Total number of double-bit persistent ECC errors.");

    /// <summary>Xid errors seen since the agent started, by code.</summary>
    public static readonly MetricDescriptor XidCount = new("gpu_xid_errors_total", "Xid errors reported by the driver since the agent started, by Xid code.", C, "xid");

    /// <summary>The last Xid code; dcgm profile only.</summary>
    public static readonly MetricDescriptor XidLast = new(null, "Value of the last Xid error.", G)
    { Dcgm = new("DCGM_FI_DEV_XID_ERRORS", G, "Value of the last XID error encountered.") };

    /// <summary>1 while the device answers, 0 after NVML reported it lost.</summary>
    public static readonly MetricDescriptor Up = new("gpu_up", "1 while NVML can reach the GPU, 0 once it reported the GPU lost.", G);

    /// <summary>HBM/GDDR temperature.</summary>
    public static readonly MetricDescriptor MemoryTemperature = new("gpu_memory_temperature_celsius", "Device memory temperature in degrees Celsius.", G)
    { Dcgm = new("DCGM_FI_DEV_MEMORY_TEMP", G, "Memory temperature (in C).") };

    /// <summary>Video encoder utilisation.</summary>
    public static readonly MetricDescriptor EncoderUtilization = new("gpu_encoder_utilization_ratio", "Share of time the video encoder was busy (0-1).", G)
    { Dcgm = new("DCGM_FI_DEV_ENC_UTIL", G, "Encoder utilization (in %).", 100, Integer: true) };

    /// <summary>Video decoder utilisation.</summary>
    public static readonly MetricDescriptor DecoderUtilization = new("gpu_decoder_utilization_ratio", "Share of time the video decoder was busy (0-1).", G)
    { Dcgm = new("DCGM_FI_DEV_DEC_UTIL", G, "Decoder utilization (in %).", 100, Integer: true) };

    /// <summary>PCIe replays (retries) since the driver loaded.</summary>
    public static readonly MetricDescriptor PcieReplays = new("gpu_pcie_replays_total", "PCIe replays (retries) since the driver was loaded.", C)
    { Dcgm = new("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", C, "Total number of PCIe retries.") };

    /// <summary>Rows remapped after correctable errors.</summary>
    public static readonly MetricDescriptor RemappedRowsCorrectable = new("gpu_remapped_rows_total", "DRAM rows remapped by the row remapper, by the kind of error that caused it.", C, "type", "correctable")
    { Dcgm = new("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", C, "Number of remapped rows for correctable errors") };

    /// <summary>Rows remapped after uncorrectable errors.</summary>
    public static readonly MetricDescriptor RemappedRowsUncorrectable = new("gpu_remapped_rows_total", "DRAM rows remapped by the row remapper, by the kind of error that caused it.", C, "type", "uncorrectable")
    { Dcgm = new("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", C, "Number of remapped rows for uncorrectable errors") };

    /// <summary>1 when a row remapping has failed.</summary>
    public static readonly MetricDescriptor RowRemapFailure = new("gpu_row_remap_failure", "1 when a DRAM row remapping has failed (the GPU needs service).", G)
    { Dcgm = new("DCGM_FI_DEV_ROW_REMAP_FAILURE", G, "Whether remapping of rows has failed") };

    /// <summary>1 while a remapping waits for a GPU reset.</summary>
    public static readonly MetricDescriptor RowRemapPending = new("gpu_row_remap_pending", "1 while a DRAM row remapping waits for the next GPU reset.", G)
    { Dcgm = new("DCGM_FI_DEV_ROW_REMAP_PENDING", G, "Whether remapping of rows is pending") };

    /// <summary>NVLink data sent, all links.</summary>
    public static readonly MetricDescriptor NvLinkTx = new("gpu_nvlink_data_bytes_total", "NVLink data bytes over all links since the driver was loaded, by direction.", C, "direction", "tx");

    /// <summary>NVLink data received, all links.</summary>
    public static readonly MetricDescriptor NvLinkRx = new("gpu_nvlink_data_bytes_total", "NVLink data bytes over all links since the driver was loaded, by direction.", C, "direction", "rx");

    /// <summary>dcgm-exporter's single NVLink counter: transmitted plus received data, in KiB as NVML counts it.</summary>
    public static readonly MetricDescriptor NvLinkBandwidthTotal = new(null, "NVLink data over all links, both directions, in KiB.", C)
    { Dcgm = new("DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", C, "Total number of NVLink bandwidth counters for all lanes.") };

    /// <summary>Host memory (from /proc/meminfo), for nodes with or without GPUs.</summary>
    public static readonly MetricDescriptor HostMemoryTotal = new("host_memory_total_bytes", "Host memory in bytes (MemTotal).", G);

    /// <summary>Host memory available to new work.</summary>
    public static readonly MetricDescriptor HostMemoryAvailable = new("host_memory_available_bytes", "Host memory available in bytes (MemAvailable).", G);

    /// <summary>One-minute load average.</summary>
    public static readonly MetricDescriptor HostLoad1 = new("host_load1", "One-minute load average of the host.", G);

    private static MetricDescriptor Clock(string domain, DcgmField? dcgm) =>
        new("gpu_clock_hertz", "Current clock frequency in hertz, by clock domain.", G, "clock", domain) { Dcgm = dcgm };

    private static (ulong, MetricDescriptor) Reason(ulong bit, string reason) =>
        (bit, new MetricDescriptor("gpu_throttle_reason", "1 while this clock event (throttle) reason is active.", G, "reason", reason));

    private static MetricDescriptor Ecc(string type, string dcgmName, string dcgmHelp) =>
        new("gpu_ecc_errors_total", "ECC errors reported by NVML, by type (corrected or uncorrected, volatile or aggregate).", C, "type", type)
        { Dcgm = new(dcgmName, C, dcgmHelp) };
}
