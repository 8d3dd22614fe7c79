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
    { PerMigInstance = true, Dcgm = new("DCGM_FI_DEV_FB_TOTAL", G, "Framebuffer memory total (in MiB).", MiB, Integer: true), Otlp = new("hw.gpu.memory.limit", "By", OtlpKind.UpDownCounter, "Size of the GPU memory.") { Source = OtlpSource.Memory, Integer = true }, DevicesField = "memory.total_bytes" };

    /// <summary>Allocated device memory.</summary>
    public static readonly MetricDescriptor MemoryUsed = new("gpu_memory_used_bytes", "Device memory allocated, in bytes, at the last high-frequency sample.", G)
    { PerMigInstance = true, Dcgm = new("DCGM_FI_DEV_FB_USED", G, "Framebuffer memory used (in MiB).", MiB, Integer: true), Otlp = new("hw.gpu.memory.usage", "By", OtlpKind.UpDownCounter, "GPU memory used.") { Source = OtlpSource.Memory, Integer = true }, DevicesField = "memory.used_bytes" };

    /// <summary>Unallocated device memory.</summary>
    public static readonly MetricDescriptor MemoryFree = new("gpu_memory_free_bytes", "Device memory free, in bytes.", G)
    { PerMigInstance = true, Dcgm = new("DCGM_FI_DEV_FB_FREE", G, "Framebuffer memory free (in MiB).", MiB, Integer: true), OtlpOmitted = "the conventions name the size and the usage (hw.gpu.memory.limit, .usage); free is their difference", DevicesField = "memory.free_bytes" };

    /// <summary>Memory the driver and firmware reserve.</summary>
    public static readonly MetricDescriptor MemoryReserved = new("gpu_memory_reserved_bytes", "Device memory reserved by the driver and firmware, in bytes.", G)
    { PerMigInstance = true, Dcgm = new("DCGM_FI_DEV_FB_RESERVED", G, "Framebuffer memory reserved (in MiB).", MiB, Integer: true), OtlpOmitted = "no OpenTelemetry semantic convention names it; /metrics serves it", DevicesField = "memory.reserved_bytes" };

    /// <summary>The highest used memory among the high-frequency samples since the previous scrape.</summary>
    public static readonly MetricDescriptor MemoryUsedPeak = new("gpu_memory_used_peak_bytes", "Highest device memory used, in bytes, among the high-frequency samples since the previous scrape.", G)
    { PerMigInstance = true, OtlpOmitted = "the peak between scrapes belongs to the Prometheus scrape, whose window it closes", DevicesOmitted = "one sample has no window to peak over" };

    /// <summary>Share of time a kernel ran.</summary>
    public static readonly MetricDescriptor Utilization = new("gpu_utilization_ratio", "Share of the last sample period during which a kernel was running (0-1).", G)
    { Dcgm = new("DCGM_FI_DEV_GPU_UTIL", G, "GPU utilization (in %).", 100, Integer: true), Otlp = new("hw.gpu.utilization", "1", OtlpKind.Gauge, "Fraction of time spent in a specific task.") { AttributeKey = "hw.gpu.task", AttributeValue = "general" }, DevicesField = "utilization_ratio" };

    /// <summary>Share of time device memory was read or written.</summary>
    public static readonly MetricDescriptor MemoryUtilization = new("gpu_memory_utilization_ratio", "Share of the last sample period during which device memory was read or written (0-1).", G)
    { Dcgm = new("DCGM_FI_DEV_MEM_COPY_UTIL", G, "Memory utilization (in %).", 100, Integer: true), OtlpOmitted = "no semantic convention for memory-interface activity (hw.gpu.memory.utilization, the share of memory in use, comes from the memory figures)", DevicesField = "memory_utilization_ratio" };

    /// <summary>Board power draw.</summary>
    public static readonly MetricDescriptor Power = new("gpu_power_watts", "Power draw in watts.", G)
    { Dcgm = new("DCGM_FI_DEV_POWER_USAGE", G, "Power draw (in W)."), Otlp = new("hw.power", "W", OtlpKind.Gauge, "Instantaneous power consumed by the GPU."), DevicesField = "power_watts" };

    /// <summary>Enforced power limit.</summary>
    public static readonly MetricDescriptor PowerLimit = new("gpu_power_limit_watts", "Enforced power limit in watts.", G)
    { Dcgm = new("DCGM_FI_DEV_POWER_MGMT_LIMIT", G, "Power management limit (in W)."), OtlpOmitted = "no OpenTelemetry semantic convention names it; /metrics serves it", DevicesField = "power_limit_watts" };

    /// <summary>Energy since the driver loaded.</summary>
    public static readonly MetricDescriptor Energy = new("gpu_energy_joules_total", "Energy consumed since the driver was loaded, in joules.", C)
    { Dcgm = new("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", C, "Total energy consumption since boot (in mJ).", 1000, Integer: true), Otlp = new("hw.energy", "J", OtlpKind.Counter, "Energy consumed by the GPU since the driver was loaded."), DevicesField = "energy_joules" };

    /// <summary>GPU die temperature.</summary>
    public static readonly MetricDescriptor Temperature = new("gpu_temperature_celsius", "GPU temperature in degrees Celsius.", G)
    { Dcgm = new("DCGM_FI_DEV_GPU_TEMP", G, "GPU temperature (in C)."), Otlp = new("hw.temperature", "Cel", OtlpKind.Gauge, "Temperature in degrees Celsius.") { Source = OtlpSource.Sensor, AttributeKey = "hw.sensor_location", AttributeValue = "gpu" }, DevicesField = "temperature_celsius" };

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
    { Dcgm = new("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", G, "Current clock event reasons (bit mask of nvmlClocksEventReason*)."), OtlpOmitted = "dcgm profile only: the reasons are exported one by one", DevicesOmitted = "dcgm profile only: devices lists the active reasons" };

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
    { Dcgm = new("DCGM_FI_DEV_PCIE_TX_THROUGHPUT", G, "PCIe TX utilization information (in KB/s).", 1.0 / 1024, Integer: true), OtlpOmitted = "no OpenTelemetry semantic convention names it; /metrics serves it", DevicesField = "pcie_bytes_per_second.tx" };

    /// <summary>PCIe receive throughput.</summary>
    public static readonly MetricDescriptor PcieRx = new("gpu_pcie_bytes_per_second", "PCIe throughput in bytes per second over NVML's last 20 ms window.", G, "direction", "rx")
    { Dcgm = new("DCGM_FI_DEV_PCIE_RX_THROUGHPUT", G, "PCIe RX utilization information (in KB/s).", 1.0 / 1024, Integer: true), OtlpOmitted = "no OpenTelemetry semantic convention names it; /metrics serves it", DevicesField = "pcie_bytes_per_second.rx" };

    /// <summary>ECC errors, one descriptor per NVML counter.</summary>
    public static readonly MetricDescriptor EccCorrectedVolatile = Ecc("corrected_volatile", "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "Total number of single-bit volatile ECC errors.");

    /// <summary>Uncorrected ECC errors since the driver loaded.</summary>
    public static readonly MetricDescriptor EccUncorrectedVolatile = Ecc("uncorrected_volatile", "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "Total number of double-bit volatile ECC errors.");

    /// <summary>Corrected ECC errors over the board's life.</summary>
    public static readonly MetricDescriptor EccCorrectedAggregate = Ecc("corrected_aggregate", "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", "Total number of single-bit persistent ECC errors.");

    /// <summary>Uncorrected ECC errors over the board's life.</summary>
    public static readonly MetricDescriptor EccUncorrectedAggregate = Ecc("uncorrected_aggregate", "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", "Total number of double-bit persistent ECC errors.");

    /// <summary>Xid errors seen since the agent started, by code.</summary>
    public static readonly MetricDescriptor XidCount = new("gpu_xid_errors_total", "Xid errors reported by the driver since the agent started, by Xid code.", C, "xid")
    { Otlp = new("hw.errors", "{error}", OtlpKind.Counter, "Number of errors encountered by the GPU.") { AttributeKey = "error.type", LabelPrefix = "xid_", Integer = true }, DevicesOmitted = "Xid events are counted by the running agent from its event set; devices takes one sample" };

    /// <summary>The last Xid code; dcgm profile only.</summary>
    public static readonly MetricDescriptor XidLast = new(null, "Value of the last Xid error.", G)
    { Dcgm = new("DCGM_FI_DEV_XID_ERRORS", G, "Value of the last XID error encountered."), OtlpOmitted = "dcgm profile only: hw.errors counts each Xid code", DevicesOmitted = "dcgm profile only" };

    /// <summary>1 while the device answers, 0 after NVML reported it lost.</summary>
    public static readonly MetricDescriptor Up = new("gpu_up", "1 while NVML can reach the GPU, 0 once it reported the GPU lost.", G)
    { Otlp = new("hw.status", "1", OtlpKind.UpDownCounter, "Operational status: 1 for the GPU's state, 0 for the others.") { Source = OtlpSource.Status, Integer = true }, DevicesField = "up" };

    /// <summary>HBM/GDDR temperature.</summary>
    public static readonly MetricDescriptor MemoryTemperature = new("gpu_memory_temperature_celsius", "Device memory temperature in degrees Celsius.", G)
    { Dcgm = new("DCGM_FI_DEV_MEMORY_TEMP", G, "Memory temperature (in C)."), Otlp = new("hw.temperature", "Cel", OtlpKind.Gauge, "Temperature in degrees Celsius.") { Source = OtlpSource.Sensor, AttributeKey = "hw.sensor_location", AttributeValue = "memory" }, DevicesField = "memory_temperature_celsius" };

    /// <summary>Video encoder utilisation.</summary>
    public static readonly MetricDescriptor EncoderUtilization = new("gpu_encoder_utilization_ratio", "Share of time the video encoder was busy (0-1).", G)
    { Dcgm = new("DCGM_FI_DEV_ENC_UTIL", G, "Encoder utilization (in %).", 100, Integer: true), Otlp = new("hw.gpu.utilization", "1", OtlpKind.Gauge, "Fraction of time spent in a specific task.") { AttributeKey = "hw.gpu.task", AttributeValue = "encoder" }, DevicesField = "encoder_utilization_ratio" };

    /// <summary>Video decoder utilisation.</summary>
    public static readonly MetricDescriptor DecoderUtilization = new("gpu_decoder_utilization_ratio", "Share of time the video decoder was busy (0-1).", G)
    { Dcgm = new("DCGM_FI_DEV_DEC_UTIL", G, "Decoder utilization (in %).", 100, Integer: true), Otlp = new("hw.gpu.utilization", "1", OtlpKind.Gauge, "Fraction of time spent in a specific task.") { AttributeKey = "hw.gpu.task", AttributeValue = "decoder" }, DevicesField = "decoder_utilization_ratio" };

    /// <summary>PCIe replays (retries) since the driver loaded.</summary>
    public static readonly MetricDescriptor PcieReplays = new("gpu_pcie_replays_total", "PCIe replays (retries) since the driver was loaded.", C)
    { Dcgm = new("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", C, "Total number of PCIe retries."), OtlpOmitted = "no OpenTelemetry semantic convention names it; /metrics serves it", DevicesField = "pcie_replays" };

    /// <summary>Rows remapped after correctable errors.</summary>
    public static readonly MetricDescriptor RemappedRowsCorrectable = new("gpu_remapped_rows_total", "DRAM rows remapped by the row remapper, by the kind of error that caused it.", C, "type", "correctable")
    { Dcgm = new("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", C, "Number of remapped rows for correctable errors"), OtlpOmitted = "no OpenTelemetry semantic convention names it; /metrics serves it", DevicesField = "remapped_rows.correctable" };

    /// <summary>Rows remapped after uncorrectable errors.</summary>
    public static readonly MetricDescriptor RemappedRowsUncorrectable = new("gpu_remapped_rows_total", "DRAM rows remapped by the row remapper, by the kind of error that caused it.", C, "type", "uncorrectable")
    { Dcgm = new("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", C, "Number of remapped rows for uncorrectable errors"), OtlpOmitted = "no OpenTelemetry semantic convention names it; /metrics serves it", DevicesField = "remapped_rows.uncorrectable" };

    /// <summary>1 when a row remapping has failed.</summary>
    public static readonly MetricDescriptor RowRemapFailure = new("gpu_row_remap_failure", "1 when a DRAM row remapping has failed (the GPU needs service).", G)
    { Dcgm = new("DCGM_FI_DEV_ROW_REMAP_FAILURE", G, "Whether remapping of rows has failed"), OtlpOmitted = "no OpenTelemetry semantic convention names it; /metrics serves it", DevicesField = "row_remap_failure" };

    /// <summary>1 while a remapping waits for a GPU reset.</summary>
    public static readonly MetricDescriptor RowRemapPending = new("gpu_row_remap_pending", "1 while a DRAM row remapping waits for the next GPU reset.", G)
    { Dcgm = new("DCGM_FI_DEV_ROW_REMAP_PENDING", G, "Whether remapping of rows is pending"), OtlpOmitted = "no OpenTelemetry semantic convention names it; /metrics serves it", DevicesField = "row_remap_pending" };

    /// <summary>NVLink data sent, all links.</summary>
    public static readonly MetricDescriptor NvLinkTx = new("gpu_nvlink_data_bytes_total", "NVLink data bytes over all links since the driver was loaded, by direction.", C, "direction", "tx")
    { Otlp = new("hw.gpu.io", "By", OtlpKind.Counter, "Bytes received and transmitted by the GPU over NVLink.") { AttributeKey = "network.io.direction", AttributeValue = "transmit", Integer = true }, DevicesField = "nvlink_data_bytes.tx" };

    /// <summary>NVLink data received, all links.</summary>
    public static readonly MetricDescriptor NvLinkRx = new("gpu_nvlink_data_bytes_total", "NVLink data bytes over all links since the driver was loaded, by direction.", C, "direction", "rx")
    { Otlp = new("hw.gpu.io", "By", OtlpKind.Counter, "Bytes received and transmitted by the GPU over NVLink.") { AttributeKey = "network.io.direction", AttributeValue = "receive", Integer = true }, DevicesField = "nvlink_data_bytes.rx" };

    /// <summary>dcgm-exporter's single NVLink counter: transmitted plus received data, in KiB as NVML counts it.</summary>
    public static readonly MetricDescriptor NvLinkBandwidthTotal = new(null, "NVLink data over all links, both directions, in KiB.", C)
    { Dcgm = new("DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", C, "Total number of NVLink bandwidth counters for all lanes."), OtlpOmitted = "dcgm profile only: hw.gpu.io carries both directions", DevicesOmitted = "dcgm profile only: devices shows both directions" };

    /// <summary>Host memory (from /proc/meminfo), for nodes with or without GPUs.</summary>
    public static readonly MetricDescriptor HostMemoryTotal = new("host_memory_total_bytes", "Host memory in bytes (MemTotal).", G)
    { Otlp = new("system.memory.limit", "By", OtlpKind.UpDownCounter, "Total host memory.") { Source = OtlpSource.Host, Integer = true }, DevicesOmitted = "host-wide, not a GPU's: the agent serves it" };

    /// <summary>Host memory available to new work.</summary>
    public static readonly MetricDescriptor HostMemoryAvailable = new("host_memory_available_bytes", "Host memory available in bytes (MemAvailable).", G)
    { Otlp = new("system.memory.linux.available", "By", OtlpKind.UpDownCounter, "Host memory available to new work (MemAvailable).") { Source = OtlpSource.Host, Integer = true }, DevicesOmitted = "host-wide, not a GPU's: the agent serves it" };

    /// <summary>One-minute load average.</summary>
    public static readonly MetricDescriptor HostLoad1 = new("host_load1", "One-minute load average of the host.", G)
    { OtlpOmitted = "the host's own OpenTelemetry collector reports load (system.cpu.load_average.1m)", DevicesOmitted = "host-wide, not a GPU's: the agent serves it" };

    /// <summary>
    /// Every quantity of the catalogue: these fields, the throttle reasons and the GPM metrics, in
    /// declaration order. The Prometheus exposition, the OTLP meter and <c>gputel devices</c> all
    /// read their names, units and fields from here.
    /// </summary>
    public static IReadOnlyList<MetricDescriptor> All { get; } =
    [
        .. typeof(GpuMetrics).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Where(f => f.FieldType == typeof(MetricDescriptor))
            .Select(f => (MetricDescriptor)f.GetValue(null)!),
        .. ThrottleReasons.Select(r => r.Metric),
        .. GpmMetrics.All.Select(e => e.Metric),
    ];

    /// <summary>Whether <paramref name="metric"/> is one of the memory figures (total, used, free, reserved), read from the memory store rather than from readings.</summary>
    public static bool IsMemory(MetricDescriptor metric) =>
        ReferenceEquals(metric, MemoryTotal) || ReferenceEquals(metric, MemoryUsed) || ReferenceEquals(metric, MemoryFree) || ReferenceEquals(metric, MemoryReserved);

    /// <summary>The value of a memory quantity (<see cref="OtlpSource.Memory"/>) in <paramref name="memory"/>; null when unknown or not a memory quantity.</summary>
    public static double? MemoryValue(MetricDescriptor metric, Nvml.MemoryInfo memory) =>
        ReferenceEquals(metric, MemoryTotal) ? memory.Total
        : ReferenceEquals(metric, MemoryUsed) ? memory.Used
        : ReferenceEquals(metric, MemoryFree) ? memory.Free
        : ReferenceEquals(metric, MemoryReserved) ? memory.Reserved
        : null;

    private static MetricDescriptor Clock(string domain, DcgmField? dcgm) =>
        new("gpu_clock_hertz", "Current clock frequency in hertz, by clock domain.", G, "clock", domain)
        { Dcgm = dcgm, OtlpOmitted = "no OpenTelemetry semantic convention names clock frequencies; /metrics serves them", DevicesField = "clocks_hertz." + domain };

    private static (ulong, MetricDescriptor) Reason(ulong bit, string reason) =>
        (bit, new MetricDescriptor("gpu_throttle_reason", "1 while this clock event (throttle) reason is active.", G, "reason", reason)
        { OtlpOmitted = "no OpenTelemetry semantic convention names throttle reasons; /metrics serves them", DevicesField = "throttle_reasons[]" });

    private static MetricDescriptor Ecc(string type, string dcgmName, string dcgmHelp) =>
        new("gpu_ecc_errors_total", "ECC errors reported by NVML, by type (corrected or uncorrected, volatile or aggregate).", C, "type", type)
        {
            Dcgm = new(dcgmName, C, dcgmHelp),
            DevicesField = "ecc_errors." + type,
            // hw.errors counts the board's lifetime (aggregate) errors; the volatile ones are among them.
            Otlp = type.EndsWith("_aggregate", StringComparison.Ordinal)
                ? new("hw.errors", "{error}", OtlpKind.Counter, "Number of errors encountered by the GPU.") { AttributeKey = "error.type", AttributeValue = type[..type.IndexOf('_', StringComparison.Ordinal)], Integer = true }
                : null,
            OtlpOmitted = type.EndsWith("_aggregate", StringComparison.Ordinal) ? null : "hw.errors counts the lifetime (aggregate) errors, which include these",
        };
}
