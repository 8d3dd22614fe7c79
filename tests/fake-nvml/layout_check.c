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

    SIZE(nvmlProcessInfo_v1_t);
    FIELD(nvmlProcessInfo_v1_t, pid);
    FIELD(nvmlProcessInfo_v1_t, usedGpuMemory);

    SIZE(nvmlEventData_t);
    FIELD(nvmlEventData_t, device);
    FIELD(nvmlEventData_t, eventType);
    FIELD(nvmlEventData_t, eventData);
    FIELD(nvmlEventData_t, gpuInstanceId);
    FIELD(nvmlEventData_t, computeInstanceId);

    SIZE(nvmlValueType_t);
    SIZE(nvmlValue_t);
    SIZE(nvmlFieldValue_t);
    FIELD(nvmlFieldValue_t, fieldId);
    FIELD(nvmlFieldValue_t, scopeId);
    FIELD(nvmlFieldValue_t, timestamp);
    FIELD(nvmlFieldValue_t, latencyUsec);
    FIELD(nvmlFieldValue_t, valueType);
    FIELD(nvmlFieldValue_t, nvmlReturn);
    FIELD(nvmlFieldValue_t, value);

    SIZE(nvmlGpmSample_t);
    SIZE(nvmlGpmMetricMetricInfo_t);
    FIELD(nvmlGpmMetricMetricInfo_t, shortName);
    FIELD(nvmlGpmMetricMetricInfo_t, longName);
    FIELD(nvmlGpmMetricMetricInfo_t, unit);
    SIZE(nvmlGpmMetric_t);
    FIELD(nvmlGpmMetric_t, metricId);
    FIELD(nvmlGpmMetric_t, nvmlReturn);
    FIELD(nvmlGpmMetric_t, value);
    FIELD(nvmlGpmMetric_t, metricInfo);
    SIZE(nvmlGpmMetricsGet_t); /* differs between API 12 and 13 (NVML_GPM_METRIC_MAX) */
    FIELD(nvmlGpmMetricsGet_t, version);
    FIELD(nvmlGpmMetricsGet_t, numMetrics);
    FIELD(nvmlGpmMetricsGet_t, sample1);
    FIELD(nvmlGpmMetricsGet_t, sample2);
    FIELD(nvmlGpmMetricsGet_t, metrics);
    SIZE(nvmlGpmSupport_t);
    FIELD(nvmlGpmSupport_t, version);
    FIELD(nvmlGpmSupport_t, isSupportedDevice);

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
    CONST(NVML_VALUE_TYPE_DOUBLE);
    CONST(NVML_VALUE_TYPE_UNSIGNED_INT);
    CONST(NVML_VALUE_TYPE_UNSIGNED_LONG);
    CONST(NVML_VALUE_TYPE_UNSIGNED_LONG_LONG);
    CONST(NVML_VALUE_TYPE_SIGNED_LONG_LONG);
    CONST(NVML_VALUE_TYPE_SIGNED_INT);
    CONST(NVML_FI_DEV_MEMORY_TEMP);
    CONST(NVML_FI_DEV_PCIE_REPLAY_COUNTER);
    CONST(NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX);
    CONST(NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX);
    CONST(NVML_NVLINK_MAX_LINKS);
    CONST(NVML_GPM_METRIC_MAX);
    CONST(NVML_GPM_METRICS_GET_VERSION);
    CONST(NVML_GPM_SUPPORT_VERSION);
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
