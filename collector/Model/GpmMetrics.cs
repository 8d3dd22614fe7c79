namespace Gputel.Collector.Model;

/// <summary>
/// The GPU Performance Monitoring metrics (NVML GPM, Hopper and newer) the agent reads: the same
/// measurements dcgm-exporter gets from the DCGM host engine's profiling fields, without DCGM.
/// </summary>
public static class GpmMetrics
{
    private static readonly MetricKind G = MetricKind.Gauge;

    /// <summary>One GPM metric: its NVML id, what it becomes, and the factor from NVML's unit to ours.</summary>
    /// <param name="Id">The <c>NVML_GPM_METRIC_*</c> id.</param>
    /// <param name="Metric">The quantity it is served as.</param>
    /// <param name="Scale">Percent to ratio (0.01), MiB/s to bytes/s (1048576).</param>
    public sealed record Entry(uint Id, MetricDescriptor Metric, double Scale);

    /// <summary>Graphics engine active.</summary>
    public static readonly MetricDescriptor GraphicsActive = Ratio("gpu_graphics_engine_active_ratio", "Share of time any graphics or compute engine was active (0-1).", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "Ratio of time the graphics engine is active.");

    /// <summary>SM active.</summary>
    public static readonly MetricDescriptor SmActive = Ratio("gpu_sm_active_ratio", "Share of SMs busy, averaged over the interval (0-1).", "DCGM_FI_PROF_SM_ACTIVE", "The ratio of cycles an SM has at least 1 warp assigned.");

    /// <summary>SM occupancy.</summary>
    public static readonly MetricDescriptor SmOccupancy = Ratio("gpu_sm_occupancy_ratio", "Resident warps relative to the theoretical maximum (0-1).", "DCGM_FI_PROF_SM_OCCUPANCY", "The ratio of number of warps resident on an SM.");

    /// <summary>Any tensor pipe active.</summary>
    public static readonly MetricDescriptor TensorActive = Ratio("gpu_tensor_active_ratio", "Share of time the SMs ran any tensor-core operation (0-1).", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "Ratio of cycles the tensor (HMMA) pipe is active.");

    /// <summary>DRAM active.</summary>
    public static readonly MetricDescriptor DramActive = Ratio("gpu_dram_active_ratio", "DRAM bandwidth used relative to the theoretical maximum (0-1).", "DCGM_FI_PROF_DRAM_ACTIVE", "Ratio of cycles the device memory interface is active sending or receiving data.");

    /// <summary>Everything the GPM collector asks for, in one <c>nvmlGpmMetricsGet</c> call.</summary>
    public static readonly IReadOnlyList<Entry> All =
    [
        new(1, GraphicsActive, 0.01),
        new(2, SmActive, 0.01),
        new(3, SmOccupancy, 0.01),
        new(5, TensorActive, 0.01),
        new(10, DramActive, 0.01),
        new(4, Pipe("integer", "DCGM_FI_PROF_PIPE_INT_ACTIVE"), 0.01),
        new(6, Pipe("tensor_dfma", "DCGM_FI_PROF_PIPE_TENSOR_DFMA_ACTIVE"), 0.01),
        new(7, Pipe("tensor_hmma", "DCGM_FI_PROF_PIPE_TENSOR_HMMA_ACTIVE"), 0.01),
        // nvml.h numbers HMMA 7 and IMMA 9 and defines no metric 8: a driver may refuse a whole
        // nvmlGpmMetricsGet that asks for it, so it is not asked for.
        new(9, Pipe("tensor_imma", "DCGM_FI_PROF_PIPE_TENSOR_IMMA_ACTIVE"), 0.01),
        new(11, Pipe("fp64", "DCGM_FI_PROF_PIPE_FP64_ACTIVE"), 0.01),
        new(12, Pipe("fp32", "DCGM_FI_PROF_PIPE_FP32_ACTIVE"), 0.01),
        new(13, Pipe("fp16", "DCGM_FI_PROF_PIPE_FP16_ACTIVE"), 0.01),
        // PCIe rates in the default profile come from nvmlDeviceGetPcieThroughput (all GPUs);
        // GPM's are served under dcgm-exporter's names only.
        new(20, new MetricDescriptor(null, "PCIe transmit rate from GPM, in bytes per second.", G) { PerMigInstance = true, Dcgm = new("DCGM_FI_PROF_PCIE_TX_BYTES", G, "The rate of data transmitted over the PCIe bus - including both protocol headers and data payloads - in bytes per second."), OtlpOmitted = "dcgm profile only", DevicesOmitted = "dcgm profile only" }, 1048576),
        new(21, new MetricDescriptor(null, "PCIe receive rate from GPM, in bytes per second.", G) { PerMigInstance = true, Dcgm = new("DCGM_FI_PROF_PCIE_RX_BYTES", G, "The rate of data received over the PCIe bus - including both protocol headers and data payloads - in bytes per second."), OtlpOmitted = "dcgm profile only", DevicesOmitted = "dcgm profile only" }, 1048576),
        new(61, NvLinkRate("tx", "DCGM_FI_PROF_NVLINK_TX_BYTES"), 1048576),
        new(60, NvLinkRate("rx", "DCGM_FI_PROF_NVLINK_RX_BYTES"), 1048576),
    ];

    private static MetricDescriptor Ratio(string name, string help, string dcgm, string dcgmHelp) =>
        new(name, help, G) { PerMigInstance = true, Dcgm = new(dcgm, G, dcgmHelp), OtlpOmitted = "no OpenTelemetry semantic convention names GPU profiling metrics; /metrics serves them", DevicesOmitted = "GPM rates need two samples an interval apart; devices takes one" };

    private static MetricDescriptor Pipe(string pipe, string? dcgm) =>
        new("gpu_pipe_active_ratio", "Share of time the SMs ran operations of this pipe (0-1), from GPM.", G, "pipe", pipe)
        { PerMigInstance = true, Dcgm = dcgm is null ? null : new(dcgm, G, $"Ratio of cycles the {pipe.Replace("tensor_", "tensor ", StringComparison.Ordinal)} pipe is active."), OtlpOmitted = "no OpenTelemetry semantic convention names GPU profiling metrics; /metrics serves them", DevicesOmitted = "GPM rates need two samples an interval apart; devices takes one" };

    private static MetricDescriptor NvLinkRate(string direction, string dcgm) =>
        new("gpu_nvlink_bytes_per_second", "NVLink data rate over all links, from GPM, by direction.", G, "direction", direction)
        { PerMigInstance = true, Dcgm = new(dcgm, G, $"The rate of data {(direction == "tx" ? "transmitted" : "received")} over NVLink, not including protocol headers, in bytes per second."), OtlpOmitted = "no OpenTelemetry semantic convention names GPU profiling metrics; /metrics serves them", DevicesOmitted = "GPM rates need two samples an interval apart; devices takes one" };
}
