/*
 * The few NVML types, constants and struct layouts the fake driver needs, declared by hand so
 * that NVIDIA's nvml.h (which has its own licence) stays out of the repository.
 *
 * Every layout here must match nvml.h byte for byte: callers (the .NET agent through P/Invoke)
 * marshal these structs by offset. layout_check.c prints sizes and offsets from either this file
 * (-DFAKE_LAYOUT) or a real nvml.h, so the two can be diffed on a host with the NVIDIA headers.
 */
#ifndef FAKE_NVML_TYPES_H
#define FAKE_NVML_TYPES_H

/* An int-sized enum, as in nvml.h; only the codes the fake produces are named. */
typedef enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_MEMORY = 20,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
    NVML_ERROR_UNKNOWN = 999
} nvmlReturn_t;

/*
 * Handles. nvml.h up to API 12 declares them as pointers to opaque structs; API 13 wraps that
 * pointer in a one-member struct. Both are 8 bytes and passed in the same register on x86-64
 * and AArch64, so the plain-pointer form below is ABI-identical to either.
 */
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlEventSet_st *nvmlEventSet_t;

typedef enum { NVML_TEMPERATURE_GPU = 0 } nvmlTemperatureSensors_t;
typedef enum { NVML_CLOCK_GRAPHICS = 0, NVML_CLOCK_SM = 1, NVML_CLOCK_MEM = 2, NVML_CLOCK_VIDEO = 3 } nvmlClockType_t;
typedef enum { NVML_PCIE_UTIL_TX_BYTES = 0, NVML_PCIE_UTIL_RX_BYTES = 1 } nvmlPcieUtilCounter_t;
typedef enum { NVML_MEMORY_ERROR_TYPE_CORRECTED = 0, NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1 } nvmlMemoryErrorType_t;
typedef enum { NVML_VOLATILE_ECC = 0, NVML_AGGREGATE_ECC = 1 } nvmlEccCounterType_t;

#define NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE 32
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE 16

typedef struct {
    char busIdLegacy[NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE]; /* "%04X:%02X:%02X.0" */
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId;
    unsigned int pciSubSystemId;
    char busId[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];          /* "%08X:%02X:%02X.0" */
} nvmlPciInfo_t;

typedef struct {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used; /* v1 counts reserved memory as used */
} nvmlMemory_t;

typedef struct {
    unsigned int version; /* caller sets nvmlMemory_v2 */
    unsigned long long total;
    unsigned long long reserved;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_v2_t;

/* Same construction as nvml.h's NVML_STRUCT_VERSION(Memory, 2). */
#define nvmlMemory_v2 ((unsigned int)(sizeof(nvmlMemory_v2_t) | (2 << 24U)))

typedef struct {
    unsigned int gpu;
    unsigned int memory;
} nvmlUtilization_t;

/* The v2 layout, which nvml.h names nvmlProcessInfo_t and the *RunningProcesses_v3 calls take. */
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;     /* 0xFFFFFFFF outside MIG */
    unsigned int computeInstanceId; /* 0xFFFFFFFF outside MIG */
} nvmlProcessInfo_t;

/* nvmlProcessInfo_v1_t: what the unversioned *RunningProcesses calls take (every driver). */
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
} nvmlProcessInfo_v1_t;

/* The record the *RunningProcesses_v3 calls of drivers 535.x before 535.104 write (NVML 12.2's
 * first nvml.h called it nvmlProcessInfo_v3_t; later headers give the layout to nvmlProcessDetail_v1_t). */
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
    unsigned long long usedGpuCcProtectedMemory;
} nvmlProcessInfo_v3cc_t;

typedef struct {
    nvmlDevice_t device;
    unsigned long long eventType;
    unsigned long long eventData; /* the Xid for nvmlEventTypeXidCriticalError */
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlEventData_t;

#define nvmlEventTypeXidCriticalError 0x0000000000000008LL

/* ---- Field values (nvmlDeviceGetFieldValues) ---- */

typedef enum {
    NVML_VALUE_TYPE_DOUBLE = 0,
    NVML_VALUE_TYPE_UNSIGNED_INT = 1,
    NVML_VALUE_TYPE_UNSIGNED_LONG = 2,
    NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3,
    NVML_VALUE_TYPE_SIGNED_LONG_LONG = 4,
    NVML_VALUE_TYPE_SIGNED_INT = 5
} nvmlValueType_t;

typedef union {
    double dVal;
    int siVal;
    unsigned int uiVal;
    unsigned long ulVal;
    unsigned long long ullVal;
    signed long long sllVal;
    unsigned short usVal;
} nvmlValue_t;

typedef struct {
    unsigned int fieldId;      /* IN: an NVML_FI_* id */
    unsigned int scopeId;      /* IN: e.g. the NVLink id; UINT_MAX sums all links */
    long long timestamp;       /* microseconds since 1970 */
    long long latencyUsec;
    nvmlValueType_t valueType;
    nvmlReturn_t nvmlReturn;   /* per field: value is valid only when 0 */
    nvmlValue_t value;
} nvmlFieldValue_t;

#define NVML_FI_DEV_MEMORY_TEMP 82
#define NVML_FI_DEV_PCIE_REPLAY_COUNTER 94
#define NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX 138 /* KiB since an arbitrary start */
#define NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX 139
#define NVML_NVLINK_MAX_LINKS 36                  /* 18 before API 13 */

/* ---- GPU Performance Monitoring (GPM) ---- */

/* A pointer in API 12, a one-member struct around it in 13: ABI-identical, as with nvmlDevice_t. */
typedef struct nvmlGpmSample_st *nvmlGpmSample_t;

typedef struct {
    char *shortName;
    char *longName;
    char *unit;
} nvmlGpmMetricMetricInfo_t;

typedef struct {
    unsigned int metricId;    /* IN: an nvmlGpmMetricId_t, e.g. 5 ANY_TENSOR_UTIL */
    nvmlReturn_t nvmlReturn;  /* OUT: value is valid only when 0 */
    double value;
    nvmlGpmMetricMetricInfo_t metricInfo; /* OUT: may be NULLs */
} nvmlGpmMetric_t;

/*
 * The size of metrics[] is NVML_GPM_METRIC_MAX, which was 98 in API 12 and is 333 in 13, so a
 * caller built against either header may pass this struct: the fake touches only
 * metrics[0..numMetrics-1] and refuses numMetrics above the larger bound.
 */
#define NVML_GPM_METRIC_MAX 333

typedef struct {
    unsigned int version;     /* IN: NVML_GPM_METRICS_GET_VERSION */
    unsigned int numMetrics;  /* IN */
    nvmlGpmSample_t sample1;  /* IN: the earlier sample */
    nvmlGpmSample_t sample2;  /* IN: the later sample */
    nvmlGpmMetric_t metrics[NVML_GPM_METRIC_MAX];
} nvmlGpmMetricsGet_t;

#define NVML_GPM_METRICS_GET_VERSION 1

typedef struct {
    unsigned int version;           /* IN: NVML_GPM_SUPPORT_VERSION */
    unsigned int isSupportedDevice; /* OUT */
} nvmlGpmSupport_t;

#define NVML_GPM_SUPPORT_VERSION 1

#endif
