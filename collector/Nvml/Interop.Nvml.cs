using System.Runtime.InteropServices;

namespace Gputel.Collector.Nvml;

/// <summary>
/// Declarations of the NVML C API, names and signatures exactly as in <c>nvml.h</c>
/// (the versioned entry points that the header's unversioned macros resolve to).
/// The library name is resolved by <see cref="NvmlLibrary"/>, so a driver in an odd place
/// (or the test driver) can be loaded instead of the system one.
/// </summary>
internal static unsafe partial class Interop
{
    internal static partial class Nvml
    {
        internal const string Library = "nvidia-ml";

        [LibraryImport(Library)] internal static partial NvmlReturn nvmlInit_v2();
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlShutdown();
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlSystemGetDriverVersion(byte* version, uint length);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlSystemGetNVMLVersion(byte* version, uint length);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlSystemGetProcessName(uint pid, byte* name, uint length);

        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetCount_v2(uint* deviceCount);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetHandleByIndex_v2(uint index, IntPtr* device);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetName(IntPtr device, byte* name, uint length);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetUUID(IntPtr device, byte* uuid, uint length);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetPciInfo_v3(IntPtr device, NvmlPciInfo* pci);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetMinorNumber(IntPtr device, uint* minorNumber);

        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetMemoryInfo_v2(IntPtr device, NvmlMemoryV2* memory);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetUtilizationRates(IntPtr device, NvmlUtilization* utilization);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetPowerUsage(IntPtr device, uint* milliwatts);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetEnforcedPowerLimit(IntPtr device, uint* milliwatts);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetTotalEnergyConsumption(IntPtr device, ulong* millijoules);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetTemperature(IntPtr device, uint sensorType, uint* celsius);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetClockInfo(IntPtr device, uint clockType, uint* megahertz);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetCurrentClocksEventReasons(IntPtr device, ulong* reasons);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetCurrentClocksThrottleReasons(IntPtr device, ulong* reasons);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetPcieThroughput(IntPtr device, uint counter, uint* kilobytesPerSecond);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetTotalEccErrors(IntPtr device, uint errorType, uint counterType, ulong* count);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetComputeRunningProcesses_v3(IntPtr device, uint* infoCount, NvmlProcessInfo* infos);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetGraphicsRunningProcesses_v3(IntPtr device, uint* infoCount, NvmlProcessInfo* infos);

        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetMigMode(IntPtr device, uint* currentMode, uint* pendingMode);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetMaxMigDeviceCount(IntPtr device, uint* count);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetMigDeviceHandleByIndex(IntPtr device, uint index, IntPtr* migDevice);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetGpuInstanceId(IntPtr device, uint* id);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetComputeInstanceId(IntPtr device, uint* id);

        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetEncoderUtilization(IntPtr device, uint* utilization, uint* samplingPeriodUs);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetDecoderUtilization(IntPtr device, uint* utilization, uint* samplingPeriodUs);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetPcieReplayCounter(IntPtr device, uint* value);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetRemappedRows(IntPtr device, uint* corrRows, uint* uncRows, uint* isPending, uint* failureOccurred);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetFieldValues(IntPtr device, int valuesCount, NvmlFieldValue* values);

        [LibraryImport(Library)] internal static partial NvmlReturn nvmlGpmQueryDeviceSupport(IntPtr device, NvmlGpmSupport* support);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlGpmSampleAlloc(IntPtr* sample);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlGpmSampleFree(IntPtr sample);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlGpmSampleGet(IntPtr device, IntPtr sample);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlGpmMigSampleGet(IntPtr device, uint gpuInstanceId, IntPtr sample);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlGpmMetricsGet(NvmlGpmMetricsGet* metricsGet);

        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceGetSupportedEventTypes(IntPtr device, ulong* eventTypes);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlEventSetCreate(IntPtr* set);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlDeviceRegisterEvents(IntPtr device, ulong eventTypes, IntPtr set);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlEventSetWait_v2(IntPtr set, NvmlEventData* data, uint timeoutMilliseconds);
        [LibraryImport(Library)] internal static partial NvmlReturn nvmlEventSetFree(IntPtr set);
    }
}
