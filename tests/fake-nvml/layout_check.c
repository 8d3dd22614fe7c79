/*
 * Prints the size and field offsets of every NVML struct the fake driver hands out, plus the
 * constants it relies on, one "name value" per line, so the fake's hand-written declarations
 * can be diffed against a real nvml.h:
 *
 *   gcc -I /usr/local/cuda/include -o real layout_check.c && ./real > real.txt
 *   gcc -DFAKE_LAYOUT -o fake layout_check.c && ./fake > fake.txt
 *   diff real.txt fake.txt
 */
#include <stddef.h>
#include <stdio.h>

#ifdef FAKE_LAYOUT
#include "fake_nvml_types.h"
#else
#include <nvml.h>
#endif

#define SIZE(T) printf("sizeof(%s) %zu\n", #T, sizeof(T))
#define FIELD(T, f) printf("%s.%s %zu\n", #T, #f, offsetof(T, f))
#define CONST(c) printf("%s %lld\n", #c, (long long)(c))

int main(void)
{
    SIZE(nvmlReturn_t);
    SIZE(nvmlDevice_t);
    SIZE(nvmlEventSet_t);
    SIZE(nvmlTemperatureSensors_t);
    SIZE(nvmlClockType_t);
    SIZE(nvmlPcieUtilCounter_t);
    SIZE(nvmlMemoryErrorType_t);
    SIZE(nvmlEccCounterType_t);

    SIZE(nvmlPciInfo_t);
    FIELD(nvmlPciInfo_t, busIdLegacy);
    FIELD(nvmlPciInfo_t, domain);
    FIELD(nvmlPciInfo_t, bus);
    FIELD(nvmlPciInfo_t, device);
    FIELD(nvmlPciInfo_t, pciDeviceId);
    FIELD(nvmlPciInfo_t, pciSubSystemId);
    FIELD(nvmlPciInfo_t, busId);

    SIZE(nvmlMemory_t);
    FIELD(nvmlMemory_t, total);
    FIELD(nvmlMemory_t, free);
    FIELD(nvmlMemory_t, used);

    SIZE(nvmlMemory_v2_t);
    FIELD(nvmlMemory_v2_t, version);
    FIELD(nvmlMemory_v2_t, total);
    FIELD(nvmlMemory_v2_t, reserved);
    FIELD(nvmlMemory_v2_t, free);
    FIELD(nvmlMemory_v2_t, used);

    SIZE(nvmlUtilization_t);
    FIELD(nvmlUtilization_t, gpu);
    FIELD(nvmlUtilization_t, memory);

    SIZE(nvmlProcessInfo_t);
    FIELD(nvmlProcessInfo_t, pid);
    FIELD(nvmlProcessInfo_t, usedGpuMemory);
    FIELD(nvmlProcessInfo_t, gpuInstanceId);
    FIELD(nvmlProcessInfo_t, computeInstanceId);

    SIZE(nvmlEventData_t);
    FIELD(nvmlEventData_t, device);
    FIELD(nvmlEventData_t, eventType);
    FIELD(nvmlEventData_t, eventData);
    FIELD(nvmlEventData_t, gpuInstanceId);
    FIELD(nvmlEventData_t, computeInstanceId);

    CONST(nvmlMemory_v2);
    CONST(nvmlEventTypeXidCriticalError);
    CONST(NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE);
    CONST(NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE);
    CONST(NVML_TEMPERATURE_GPU);
    CONST(NVML_CLOCK_GRAPHICS);
    CONST(NVML_CLOCK_SM);
    CONST(NVML_CLOCK_MEM);
    CONST(NVML_CLOCK_VIDEO);
    CONST(NVML_PCIE_UTIL_TX_BYTES);
    CONST(NVML_PCIE_UTIL_RX_BYTES);
    CONST(NVML_MEMORY_ERROR_TYPE_CORRECTED);
    CONST(NVML_MEMORY_ERROR_TYPE_UNCORRECTED);
    CONST(NVML_VOLATILE_ECC);
    CONST(NVML_AGGREGATE_ECC);
    CONST(NVML_SUCCESS);
    CONST(NVML_ERROR_UNINITIALIZED);
    CONST(NVML_ERROR_INVALID_ARGUMENT);
    CONST(NVML_ERROR_NOT_SUPPORTED);
    CONST(NVML_ERROR_NOT_FOUND);
    CONST(NVML_ERROR_INSUFFICIENT_SIZE);
    CONST(NVML_ERROR_TIMEOUT);
    CONST(NVML_ERROR_GPU_IS_LOST);
    CONST(NVML_ERROR_MEMORY);
    CONST(NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
    CONST(NVML_ERROR_UNKNOWN);
    return 0;
}
