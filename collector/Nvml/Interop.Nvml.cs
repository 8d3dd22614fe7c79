namespace Gputel.Collector.Nvml;

/// <summary>
/// The NVML C API, names and signatures exactly as in <c>nvml.h</c> (the versioned entry points
/// that the header's unversioned macros resolve to, plus the older versions the agent falls back to).
/// Every entry point is looked up in the loaded library on its first call and cached
/// (<see cref="NvmlSymbol"/>): a driver older or newer than the header lacks some of them, and a
/// missing one answers <see cref="NvmlReturn.FunctionNotFound"/> for that call only instead of
/// failing the load or the caller's other readings.
/// </summary>
internal static unsafe partial class Interop
{
    internal static class Nvml
    {
        private static readonly NvmlSymbol Init = new("nvmlInit_v2");
        private static readonly NvmlSymbol Shutdown = new("nvmlShutdown");
        private static readonly NvmlSymbol DriverVersion = new("nvmlSystemGetDriverVersion");
        private static readonly NvmlSymbol NvmlVersion = new("nvmlSystemGetNVMLVersion");
        private static readonly NvmlSymbol ProcessName = new("nvmlSystemGetProcessName");
        private static readonly NvmlSymbol Count = new("nvmlDeviceGetCount_v2");
        private static readonly NvmlSymbol HandleByIndex = new("nvmlDeviceGetHandleByIndex_v2");
        private static readonly NvmlSymbol Name = new("nvmlDeviceGetName");
        private static readonly NvmlSymbol Uuid = new("nvmlDeviceGetUUID");
        private static readonly NvmlSymbol PciInfo = new("nvmlDeviceGetPciInfo_v3");
        private static readonly NvmlSymbol MinorNumber = new("nvmlDeviceGetMinorNumber");
        private static readonly NvmlSymbol MemoryInfoV2 = new("nvmlDeviceGetMemoryInfo_v2");
        private static readonly NvmlSymbol MemoryInfoV1 = new("nvmlDeviceGetMemoryInfo");
        private static readonly NvmlSymbol Utilization = new("nvmlDeviceGetUtilizationRates");
        private static readonly NvmlSymbol PowerUsage = new("nvmlDeviceGetPowerUsage");
        private static readonly NvmlSymbol PowerLimit = new("nvmlDeviceGetEnforcedPowerLimit");
        private static readonly NvmlSymbol Energy = new("nvmlDeviceGetTotalEnergyConsumption");
        private static readonly NvmlSymbol Temperature = new("nvmlDeviceGetTemperature");
        private static readonly NvmlSymbol ClockInfo = new("nvmlDeviceGetClockInfo");
        private static readonly NvmlSymbol ClocksEventReasons = new("nvmlDeviceGetCurrentClocksEventReasons");
        private static readonly NvmlSymbol ClocksThrottleReasons = new("nvmlDeviceGetCurrentClocksThrottleReasons");
        private static readonly NvmlSymbol PcieThroughput = new("nvmlDeviceGetPcieThroughput");
        private static readonly NvmlSymbol EccErrors = new("nvmlDeviceGetTotalEccErrors");
        private static readonly NvmlSymbol ComputeProcessesV3 = new("nvmlDeviceGetComputeRunningProcesses_v3");
        private static readonly NvmlSymbol ComputeProcessesV2 = new("nvmlDeviceGetComputeRunningProcesses_v2");
        private static readonly NvmlSymbol ComputeProcessesV1 = new("nvmlDeviceGetComputeRunningProcesses");
        private static readonly NvmlSymbol GraphicsProcessesV3 = new("nvmlDeviceGetGraphicsRunningProcesses_v3");
        private static readonly NvmlSymbol GraphicsProcessesV2 = new("nvmlDeviceGetGraphicsRunningProcesses_v2");
        private static readonly NvmlSymbol GraphicsProcessesV1 = new("nvmlDeviceGetGraphicsRunningProcesses");
        private static readonly NvmlSymbol MigMode = new("nvmlDeviceGetMigMode");
        private static readonly NvmlSymbol MaxMigDeviceCount = new("nvmlDeviceGetMaxMigDeviceCount");
        private static readonly NvmlSymbol MigDeviceHandleByIndex = new("nvmlDeviceGetMigDeviceHandleByIndex");
        private static readonly NvmlSymbol GpuInstanceId = new("nvmlDeviceGetGpuInstanceId");
        private static readonly NvmlSymbol ComputeInstanceId = new("nvmlDeviceGetComputeInstanceId");
        private static readonly NvmlSymbol EncoderUtilization = new("nvmlDeviceGetEncoderUtilization");
        private static readonly NvmlSymbol DecoderUtilization = new("nvmlDeviceGetDecoderUtilization");
        private static readonly NvmlSymbol PcieReplayCounter = new("nvmlDeviceGetPcieReplayCounter");
        private static readonly NvmlSymbol RemappedRows = new("nvmlDeviceGetRemappedRows");
        private static readonly NvmlSymbol FieldValues = new("nvmlDeviceGetFieldValues");
        private static readonly NvmlSymbol GpmQueryDeviceSupport = new("nvmlGpmQueryDeviceSupport");
        private static readonly NvmlSymbol GpmSampleAlloc = new("nvmlGpmSampleAlloc");
        private static readonly NvmlSymbol GpmSampleFree = new("nvmlGpmSampleFree");
        private static readonly NvmlSymbol GpmSampleGet = new("nvmlGpmSampleGet");
        private static readonly NvmlSymbol GpmMigSampleGet = new("nvmlGpmMigSampleGet");
        private static readonly NvmlSymbol GpmMetricsGet = new("nvmlGpmMetricsGet");
        private static readonly NvmlSymbol SupportedEventTypes = new("nvmlDeviceGetSupportedEventTypes");
        private static readonly NvmlSymbol EventSetCreate = new("nvmlEventSetCreate");
        private static readonly NvmlSymbol RegisterEvents = new("nvmlDeviceRegisterEvents");
        private static readonly NvmlSymbol EventSetWait = new("nvmlEventSetWait_v2");
        private static readonly NvmlSymbol EventSetFree = new("nvmlEventSetFree");

        private const NvmlReturn Missing = NvmlReturn.FunctionNotFound;

        // Every entry point, and for the older ones the newer entry point they stand in for.
        private static readonly (NvmlSymbol Symbol, NvmlSymbol? FallbackFor)[] All =
        [
            (Init, null), (Shutdown, null), (DriverVersion, null), (NvmlVersion, null), (ProcessName, null), (Count, null),
            (HandleByIndex, null), (Name, null), (Uuid, null), (PciInfo, null), (MinorNumber, null), (MemoryInfoV2, null),
            (MemoryInfoV1, MemoryInfoV2), (Utilization, null), (PowerUsage, null), (PowerLimit, null), (Energy, null),
            (Temperature, null), (ClockInfo, null), (ClocksEventReasons, null), (ClocksThrottleReasons, ClocksEventReasons),
            (PcieThroughput, null), (EccErrors, null), (ComputeProcessesV3, null), (ComputeProcessesV2, ComputeProcessesV3),
            (ComputeProcessesV1, ComputeProcessesV3), (GraphicsProcessesV3, null), (GraphicsProcessesV2, GraphicsProcessesV3),
            (GraphicsProcessesV1, GraphicsProcessesV3), (MigMode, null), (MaxMigDeviceCount, null), (MigDeviceHandleByIndex, null),
            (GpuInstanceId, null), (ComputeInstanceId, null), (EncoderUtilization, null), (DecoderUtilization, null),
            (PcieReplayCounter, null), (RemappedRows, null), (FieldValues, null), (GpmQueryDeviceSupport, null),
            (GpmSampleAlloc, null), (GpmSampleFree, null), (GpmSampleGet, null), (GpmMigSampleGet, null), (GpmMetricsGet, null),
            (SupportedEventTypes, null), (EventSetCreate, null), (RegisterEvents, null), (EventSetWait, null), (EventSetFree, null),
        ];

        /// <summary>
        /// The entry points the loaded library lacks, leaving out older versions whose newer
        /// version it has (those are only fallbacks): on a current driver, none.
        /// </summary>
        internal static IReadOnlyList<string> MissingEntryPoints() =>
            All.Where(e => e.Symbol.Address == 0 && (e.FallbackFor is null || e.FallbackFor.Address == 0))
                .Select(e => e.Symbol.Name)
                .ToArray();

        internal static NvmlReturn nvmlInit_v2() =>
            Init.Address is var f && f != 0 ? ((delegate* unmanaged<NvmlReturn>)f)() : Missing;

        internal static NvmlReturn nvmlShutdown() =>
            Shutdown.Address is var f && f != 0 ? ((delegate* unmanaged<NvmlReturn>)f)() : Missing;

        internal static NvmlReturn nvmlSystemGetDriverVersion(byte* version, uint length) =>
            DriverVersion.Address is var f && f != 0 ? ((delegate* unmanaged<byte*, uint, NvmlReturn>)f)(version, length) : Missing;

        internal static NvmlReturn nvmlSystemGetNVMLVersion(byte* version, uint length) =>
            NvmlVersion.Address is var f && f != 0 ? ((delegate* unmanaged<byte*, uint, NvmlReturn>)f)(version, length) : Missing;

        internal static NvmlReturn nvmlSystemGetProcessName(uint pid, byte* name, uint length) =>
            ProcessName.Address is var f && f != 0 ? ((delegate* unmanaged<uint, byte*, uint, NvmlReturn>)f)(pid, name, length) : Missing;

        internal static NvmlReturn nvmlDeviceGetCount_v2(uint* deviceCount) =>
            Count.Address is var f && f != 0 ? ((delegate* unmanaged<uint*, NvmlReturn>)f)(deviceCount) : Missing;

        internal static NvmlReturn nvmlDeviceGetHandleByIndex_v2(uint index, IntPtr* device) =>
            HandleByIndex.Address is var f && f != 0 ? ((delegate* unmanaged<uint, IntPtr*, NvmlReturn>)f)(index, device) : Missing;

        internal static NvmlReturn nvmlDeviceGetName(IntPtr device, byte* name, uint length) =>
            Name.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, byte*, uint, NvmlReturn>)f)(device, name, length) : Missing;

        internal static NvmlReturn nvmlDeviceGetUUID(IntPtr device, byte* uuid, uint length) =>
            Uuid.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, byte*, uint, NvmlReturn>)f)(device, uuid, length) : Missing;

        internal static NvmlReturn nvmlDeviceGetPciInfo_v3(IntPtr device, NvmlPciInfo* pci) =>
            PciInfo.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, NvmlPciInfo*, NvmlReturn>)f)(device, pci) : Missing;

        internal static NvmlReturn nvmlDeviceGetMinorNumber(IntPtr device, uint* minorNumber) =>
            MinorNumber.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint*, NvmlReturn>)f)(device, minorNumber) : Missing;

        internal static NvmlReturn nvmlDeviceGetMemoryInfo_v2(IntPtr device, NvmlMemoryV2* memory) =>
            MemoryInfoV2.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, NvmlMemoryV2*, NvmlReturn>)f)(device, memory) : Missing;

        internal static NvmlReturn nvmlDeviceGetMemoryInfo(IntPtr device, NvmlMemoryV1* memory) =>
            MemoryInfoV1.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, NvmlMemoryV1*, NvmlReturn>)f)(device, memory) : Missing;

        internal static NvmlReturn nvmlDeviceGetUtilizationRates(IntPtr device, NvmlUtilization* utilization) =>
            Utilization.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, NvmlUtilization*, NvmlReturn>)f)(device, utilization) : Missing;

        internal static NvmlReturn nvmlDeviceGetPowerUsage(IntPtr device, uint* milliwatts) =>
            PowerUsage.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint*, NvmlReturn>)f)(device, milliwatts) : Missing;

        internal static NvmlReturn nvmlDeviceGetEnforcedPowerLimit(IntPtr device, uint* milliwatts) =>
            PowerLimit.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint*, NvmlReturn>)f)(device, milliwatts) : Missing;

        internal static NvmlReturn nvmlDeviceGetTotalEnergyConsumption(IntPtr device, ulong* millijoules) =>
            Energy.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, ulong*, NvmlReturn>)f)(device, millijoules) : Missing;

        internal static NvmlReturn nvmlDeviceGetTemperature(IntPtr device, uint sensorType, uint* celsius) =>
            Temperature.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint, uint*, NvmlReturn>)f)(device, sensorType, celsius) : Missing;

        internal static NvmlReturn nvmlDeviceGetClockInfo(IntPtr device, uint clockType, uint* megahertz) =>
            ClockInfo.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint, uint*, NvmlReturn>)f)(device, clockType, megahertz) : Missing;

        internal static NvmlReturn nvmlDeviceGetCurrentClocksEventReasons(IntPtr device, ulong* reasons) =>
            ClocksEventReasons.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, ulong*, NvmlReturn>)f)(device, reasons) : Missing;

        internal static NvmlReturn nvmlDeviceGetCurrentClocksThrottleReasons(IntPtr device, ulong* reasons) =>
            ClocksThrottleReasons.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, ulong*, NvmlReturn>)f)(device, reasons) : Missing;

        internal static NvmlReturn nvmlDeviceGetPcieThroughput(IntPtr device, uint counter, uint* kilobytesPerSecond) =>
            PcieThroughput.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint, uint*, NvmlReturn>)f)(device, counter, kilobytesPerSecond) : Missing;

        internal static NvmlReturn nvmlDeviceGetTotalEccErrors(IntPtr device, uint errorType, uint counterType, ulong* count) =>
            EccErrors.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint, uint, ulong*, NvmlReturn>)f)(device, errorType, counterType, count) : Missing;

        /// <summary>
        /// A running-process query of the given version (3, 2 or 1): <paramref name="infos"/> is an
        /// array of that version's records (see <see cref="NvmlProcessLayout"/>).
        /// </summary>
        internal static NvmlReturn RunningProcesses(bool graphics, int version, IntPtr device, uint* infoCount, byte* infos)
        {
            NvmlSymbol symbol = (graphics, version) switch
            {
                (false, 3) => ComputeProcessesV3,
                (false, 2) => ComputeProcessesV2,
                (false, _) => ComputeProcessesV1,
                (true, 3) => GraphicsProcessesV3,
                (true, 2) => GraphicsProcessesV2,
                (true, _) => GraphicsProcessesV1,
            };
            return symbol.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint*, byte*, NvmlReturn>)f)(device, infoCount, infos) : Missing;
        }

        internal static NvmlReturn nvmlDeviceGetMigMode(IntPtr device, uint* currentMode, uint* pendingMode) =>
            MigMode.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint*, uint*, NvmlReturn>)f)(device, currentMode, pendingMode) : Missing;

        internal static NvmlReturn nvmlDeviceGetMaxMigDeviceCount(IntPtr device, uint* count) =>
            MaxMigDeviceCount.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint*, NvmlReturn>)f)(device, count) : Missing;

        internal static NvmlReturn nvmlDeviceGetMigDeviceHandleByIndex(IntPtr device, uint index, IntPtr* migDevice) =>
            MigDeviceHandleByIndex.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint, IntPtr*, NvmlReturn>)f)(device, index, migDevice) : Missing;

        internal static NvmlReturn nvmlDeviceGetGpuInstanceId(IntPtr device, uint* id) =>
            GpuInstanceId.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint*, NvmlReturn>)f)(device, id) : Missing;

        internal static NvmlReturn nvmlDeviceGetComputeInstanceId(IntPtr device, uint* id) =>
            ComputeInstanceId.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint*, NvmlReturn>)f)(device, id) : Missing;

        internal static NvmlReturn nvmlDeviceGetEncoderUtilization(IntPtr device, uint* utilization, uint* samplingPeriodUs) =>
            EncoderUtilization.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint*, uint*, NvmlReturn>)f)(device, utilization, samplingPeriodUs) : Missing;

        internal static NvmlReturn nvmlDeviceGetDecoderUtilization(IntPtr device, uint* utilization, uint* samplingPeriodUs) =>
            DecoderUtilization.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint*, uint*, NvmlReturn>)f)(device, utilization, samplingPeriodUs) : Missing;

        internal static NvmlReturn nvmlDeviceGetPcieReplayCounter(IntPtr device, uint* value) =>
            PcieReplayCounter.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint*, NvmlReturn>)f)(device, value) : Missing;

        internal static NvmlReturn nvmlDeviceGetRemappedRows(IntPtr device, uint* corrRows, uint* uncRows, uint* isPending, uint* failureOccurred) =>
            RemappedRows.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint*, uint*, uint*, uint*, NvmlReturn>)f)(device, corrRows, uncRows, isPending, failureOccurred) : Missing;

        internal static NvmlReturn nvmlDeviceGetFieldValues(IntPtr device, int valuesCount, NvmlFieldValue* values) =>
            FieldValues.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, int, NvmlFieldValue*, NvmlReturn>)f)(device, valuesCount, values) : Missing;

        internal static NvmlReturn nvmlGpmQueryDeviceSupport(IntPtr device, NvmlGpmSupport* support) =>
            GpmQueryDeviceSupport.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, NvmlGpmSupport*, NvmlReturn>)f)(device, support) : Missing;

        internal static NvmlReturn nvmlGpmSampleAlloc(IntPtr* sample) =>
            GpmSampleAlloc.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr*, NvmlReturn>)f)(sample) : Missing;

        internal static NvmlReturn nvmlGpmSampleFree(IntPtr sample) =>
            GpmSampleFree.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, NvmlReturn>)f)(sample) : Missing;

        internal static NvmlReturn nvmlGpmSampleGet(IntPtr device, IntPtr sample) =>
            GpmSampleGet.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, IntPtr, NvmlReturn>)f)(device, sample) : Missing;

        internal static NvmlReturn nvmlGpmMigSampleGet(IntPtr device, uint gpuInstanceId, IntPtr sample) =>
            GpmMigSampleGet.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, uint, IntPtr, NvmlReturn>)f)(device, gpuInstanceId, sample) : Missing;

        internal static NvmlReturn nvmlGpmMetricsGet(NvmlGpmMetricsGet* metricsGet) =>
            GpmMetricsGet.Address is var f && f != 0 ? ((delegate* unmanaged<NvmlGpmMetricsGet*, NvmlReturn>)f)(metricsGet) : Missing;

        internal static NvmlReturn nvmlDeviceGetSupportedEventTypes(IntPtr device, ulong* eventTypes) =>
            SupportedEventTypes.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, ulong*, NvmlReturn>)f)(device, eventTypes) : Missing;

        internal static NvmlReturn nvmlEventSetCreate(IntPtr* set) =>
            EventSetCreate.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr*, NvmlReturn>)f)(set) : Missing;

        internal static NvmlReturn nvmlDeviceRegisterEvents(IntPtr device, ulong eventTypes, IntPtr set) =>
            RegisterEvents.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, ulong, IntPtr, NvmlReturn>)f)(device, eventTypes, set) : Missing;

        internal static NvmlReturn nvmlEventSetWait_v2(IntPtr set, NvmlEventData* data, uint timeoutMilliseconds) =>
            EventSetWait.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, NvmlEventData*, uint, NvmlReturn>)f)(set, data, timeoutMilliseconds) : Missing;

        internal static NvmlReturn nvmlEventSetFree(IntPtr set) =>
            EventSetFree.Address is var f && f != 0 ? ((delegate* unmanaged<IntPtr, NvmlReturn>)f)(set) : Missing;
    }
}
