using System.Runtime.InteropServices;

namespace Gputel.Collector.Nvml;

// Layouts mirror nvml.h (API version 13) field for field; sizes are checked by
// tests/fake-nvml/layout_check.c against a real header on a GPU host.

/// <summary><c>nvmlPciInfo_t</c> (68 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NvmlPciInfo
{
    public fixed byte BusIdLegacy[16];
    public uint Domain;
    public uint Bus;
    public uint Device;
    public uint PciDeviceId;
    public uint PciSubSystemId;
    public fixed byte BusId[32];
}

/// <summary><c>nvmlMemory_v2_t</c> (40 bytes; the version word is padded to 8).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlMemoryV2
{
    /// <summary><c>NVML_STRUCT_VERSION(Memory, 2)</c>: the struct size with the version in the top byte.</summary>
    public const uint Version2 = 40u | (2u << 24);

    public uint Version;
    public ulong Total;
    public ulong Reserved;
    public ulong Free;
    public ulong Used;
}

/// <summary><c>nvmlUtilization_t</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlUtilization
{
    public uint Gpu;
    public uint Memory;
}

/// <summary><c>nvmlProcessInfo_t</c> (the v2 layout the <c>_v3</c> process queries fill; 24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlProcessInfo
{
    public uint Pid;
    public ulong UsedGpuMemory;
    public uint GpuInstanceId;
    public uint ComputeInstanceId;
}

/// <summary><c>nvmlEventData_t</c> (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlEventData
{
    public IntPtr Device;
    public ulong EventType;
    public ulong EventData;
    public uint GpuInstanceId;
    public uint ComputeInstanceId;
}

/// <summary><c>nvmlFieldValue_t</c> (40 bytes): one field of <c>nvmlDeviceGetFieldValues</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlFieldValue
{
    public uint FieldId;
    public uint ScopeId;
    public long Timestamp;
    public long LatencyUsec;
    public uint ValueType;
    public NvmlReturn Return;
    /// <summary>The 8-byte <c>nvmlValue_t</c> union, read according to <see cref="ValueType"/>.</summary>
    public ulong Value;
}

/// <summary><c>nvmlGpmSupport_t</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlGpmSupport
{
    public const uint Version1 = 1;
    public uint Version;
    public uint IsSupportedDevice;
}

/// <summary><c>nvmlGpmMetric_t</c> (40 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlGpmMetric
{
    public uint MetricId;
    public NvmlReturn Return;
    public double Value;
    public IntPtr ShortName;
    public IntPtr LongName;
    public IntPtr Unit;
}

/// <summary>
/// <c>nvmlGpmMetricsGet_t</c> with room for <see cref="Capacity"/> metrics. The header's array size
/// (NVML_GPM_METRIC_MAX) changed between NVML versions (98, then 333), but the driver reads and
/// writes only the first <c>numMetrics</c> entries, so a shorter array is safe.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NvmlGpmMetricsGet
{
    public const uint Version1 = 1;
    public const int Capacity = 32;
    public uint Version;
    public uint NumMetrics;
    public IntPtr Sample1;
    public IntPtr Sample2;
    public fixed byte Metrics[Capacity * 40];

    public ref NvmlGpmMetric Metric(int index) =>
        ref System.Runtime.CompilerServices.Unsafe.As<byte, NvmlGpmMetric>(ref Metrics[index * 40]);
}

/// <summary>Constants from nvml.h used by the collectors.</summary>
internal static class NvmlConstants
{
    public const uint TemperatureGpu = 0;
    public const uint PcieTx = 0;
    public const uint PcieRx = 1;
    public const uint EccCorrected = 0;
    public const uint EccUncorrected = 1;
    public const uint EccVolatile = 0;
    public const uint EccAggregate = 1;
    public const ulong EventTypeXidCriticalError = 0x8;
    /// <summary><c>NVML_VALUE_NOT_AVAILABLE</c> as an unsigned long long.</summary>
    public const ulong ValueNotAvailable = ulong.MaxValue;
    public const uint NoInstance = 0xFFFFFFFF;
    public const uint FieldMemoryTemperature = 82;
    public const uint FieldNvLinkThroughputDataTx = 138;
    public const uint FieldNvLinkThroughputDataRx = 139;
    /// <summary>scopeId meaning "all NVLink links together".</summary>
    public const uint AllLinks = 0xFFFFFFFF;
}
