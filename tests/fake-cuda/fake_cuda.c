/*
 * A stand-in for the CUDA driver (libcuda.so.1) on machines without a GPU: just the calls
 * gputel makes to find a device and read its default memory pool. FAKE_CUDA_DEVICES sets how many
 * devices it has (default 1). Device N's UUID is 16 bytes of value 0xA0 + N. The pool's figures
 * start at zero; setting a high-water mark to zero resets it to the current figure, as the real
 * driver does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef void *CUmemoryPool;

enum { SUCCESS = 0, INVALID_VALUE = 1, NOT_INITIALIZED = 3, INVALID_DEVICE = 101 };
enum { RESERVED_CURRENT = 5, RESERVED_HIGH = 6, USED_CURRENT = 7, USED_HIGH = 8 };

static int initialized;
static uint64_t figures[9];
static int pool_tag;

static int device_count(void)
{
    const char *text = getenv("FAKE_CUDA_DEVICES");
    return text ? atoi(text) : 1;
}

CUresult cuInit(unsigned int flags)
{
    if (flags != 0) {
        return INVALID_VALUE;
    }
    initialized = 1;
    return SUCCESS;
}

CUresult cuDeviceGetCount(int *count)
{
    if (!initialized) {
        return NOT_INITIALIZED;
    }
    *count = device_count();
    return SUCCESS;
}

CUresult cuDeviceGet(CUdevice *device, int ordinal)
{
    if (!initialized) {
        return NOT_INITIALIZED;
    }
    if (ordinal < 0 || ordinal >= device_count()) {
        return INVALID_DEVICE;
    }
    *device = ordinal;
    return SUCCESS;
}

CUresult cuDeviceGetUuid_v2(unsigned char *uuid, CUdevice device)
{
    if (device < 0 || device >= device_count()) {
        return INVALID_DEVICE;
    }
    memset(uuid, 0xA0 + device, 16);
    return SUCCESS;
}

CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool, CUdevice device)
{
    if (device < 0 || device >= device_count()) {
        return INVALID_DEVICE;
    }
    *pool = &pool_tag;
    return SUCCESS;
}

CUresult cuMemPoolGetAttribute(CUmemoryPool pool, int attribute, void *value)
{
    if (pool != &pool_tag || attribute < RESERVED_CURRENT || attribute > USED_HIGH) {
        return INVALID_VALUE;
    }
    *(uint64_t *)value = figures[attribute];
    return SUCCESS;
}

CUresult cuMemPoolSetAttribute(CUmemoryPool pool, int attribute, void *value)
{
    if (pool != &pool_tag || (attribute != RESERVED_HIGH && attribute != USED_HIGH) || *(uint64_t *)value != 0) {
        return INVALID_VALUE;
    }
    figures[attribute] = figures[attribute - 1];
    return SUCCESS;
}
