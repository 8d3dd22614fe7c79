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

/// <summary><c>nvmlMemory_t</c> (24 bytes): the v1 query of drivers before R510, without a reserved figure.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlMemoryV1
{
    public ulong Total;
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

/// <summary>
/// The records the running-process queries fill, by version. All share a prefix: <c>pid</c> at 0,
/// <c>usedGpuMemory</c> at 8, and from v2 on <c>gpuInstanceId</c> at 16 and <c>computeInstanceId</c> at 20.
/// <list type="bullet">
/// <item><c>nvmlDeviceGetComputeRunningProcesses</c> (v1): <c>nvmlProcessInfo_v1_t</c>, 16 bytes (every driver).</item>
/// <item><c>..._v2</c>: <c>nvmlProcessInfo_v2_t</c>, 24 bytes (R455 and newer).</item>
/// <item><c>..._v3</c>: <c>nvmlProcessInfo_v2_t</c> again, 24 bytes (R510 and newer), except that drivers
/// 535.x before 535.104 fill a 32-byte record with <c>usedGpuCcProtectedMemory</c> appended
/// (NVML 12.2's first header; the later 12.2 header moved that record to
/// <c>nvmlProcessDetail_v1_t</c> of <c>nvmlDeviceGetRunningProcessDetailList</c>). Read with the
/// 24-byte stride, every record after the first would be garbage.</item>
/// </list>
/// </summary>
internal static class NvmlProcessLayout
{
    public const int PidOffset = 0;
    public const int UsedOffset = 8;
    public const int GpuInstanceOffset = 16;
    public const int ComputeInstanceOffset = 20;
    public const int V1Size = 16;
    public const int V2Size = 24;
    public const int V3ConfidentialSize = 32;

    private static int _v3Size = V2Size;

    /// <summary>The record size of the <c>_v3</c> queries for the driver in use.</summary>
    public static int V3Size => Volatile.Read(ref _v3Size);

    /// <summary>The record size of a query version (3, 2 or 1).</summary>
    public static int Size(int version) => version switch { 3 => V3Size, 2 => V2Size, _ => V1Size };

    /// <summary>Chooses the <c>_v3</c> record size for the driver version NVML reported.</summary>
    public static void UseDriver(string driverVersion) =>
        Volatile.Write(ref _v3Size, V3IsConfidentialLayout(driverVersion) ? V3ConfidentialSize : V2Size);

    /// <summary>True for drivers 535.x before 535.104, whose <c>_v3</c> process queries write 32-byte records.</summary>
    public static bool V3IsConfidentialLayout(string driverVersion)
    {
        string[] parts = (driverVersion ?? string.Empty).Split('.');
        return parts.Length >= 2
            && int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int major)
            && int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int minor)
            && major == 535 && minor < 104;
    }
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
