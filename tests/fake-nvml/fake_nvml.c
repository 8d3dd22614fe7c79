/*
 * fake_nvml.c: a scripted stand-in for NVIDIA's libnvidia-ml.so.1, so the agent's GPU code can
 * be tested on machines without a GPU. Devices, values, timelines and faults come from a script
 * (see SCRIPT-FORMAT.md); the exports keep the real names, signatures and struct layouts.
 *
 * Layout of this file: script state and limits, the script parser, the common prologue every
 * export goes through (begin/end), then the exports in the order of nvml.h's sections.
 *
 * All state lives in fixed-size static arrays, so a handle stays a valid pointer for the life of
 * the process even after a script reload or shutdown; handles are validated by identity.
 */
#define _POSIX_C_SOURCE 200809L
#include "fake_nvml_types.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef unsigned long long u64;

#define MAX_GPUS 16
#define MAX_MIG_PER_GPU 7 /* also what nvmlDeviceGetMaxMigDeviceCount reports with MIG on */
#define MAX_MIGS (MAX_GPUS * MAX_MIG_PER_GPU)
#define MAX_ENTRIES 1024  /* timeline points, processes, xids, rules, process names, GPM values */
#define MAX_SETS 32
#define MAX_SAMPLES 512   /* GPM samples: two per GPU and per MIG instance, with room to spare */
#define STR_LEN 96
#define UNSET ULLONG_MAX  /* a value the script did not set: the query is NOT_SUPPORTED */
#define ANY_FUNCTION -1   /* rule.fn of a `lost` window */
#ifndef FAKE_PROCESS_INFO_V3_CC
#define FAKE_PROCESS_INFO_V3_CC 0 /* 1: the _v3 process queries write 32-byte records (535.x < 535.104) */
#endif

/* Every export, in one table: call counters and fail/hang rules refer to functions by index. */
static const char *const FUNCTIONS[] = {
    "nvmlInit_v2", "nvmlShutdown", "nvmlErrorString", "nvmlSystemGetDriverVersion",
    "nvmlSystemGetNVMLVersion", "nvmlSystemGetProcessName", "nvmlDeviceGetCount_v2",
    "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetName", "nvmlDeviceGetUUID",
    "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetMinorNumber", "nvmlDeviceGetMemoryInfo_v2",
    "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetPowerUsage",
    "nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetTotalEnergyConsumption",
    "nvmlDeviceGetTemperature", "nvmlDeviceGetClockInfo", "nvmlDeviceGetCurrentClocksEventReasons",
    "nvmlDeviceGetCurrentClocksThrottleReasons", "nvmlDeviceGetPcieThroughput",
    "nvmlDeviceGetTotalEccErrors", "nvmlDeviceGetComputeRunningProcesses_v3",
    "nvmlDeviceGetGraphicsRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2",
    "nvmlDeviceGetGraphicsRunningProcesses_v2", "nvmlDeviceGetComputeRunningProcesses",
    "nvmlDeviceGetGraphicsRunningProcesses", "nvmlDeviceGetMigMode",
    "nvmlDeviceGetMaxMigDeviceCount", "nvmlDeviceGetMigDeviceHandleByIndex",
    "nvmlDeviceIsMigDeviceHandle", "nvmlDeviceGetGpuInstanceId", "nvmlDeviceGetComputeInstanceId",
    "nvmlDeviceGetSupportedEventTypes", "nvmlEventSetCreate", "nvmlDeviceRegisterEvents",
    "nvmlEventSetWait_v2", "nvmlEventSetFree", "nvmlDeviceGetEncoderUtilization",
    "nvmlDeviceGetDecoderUtilization", "nvmlDeviceGetPcieReplayCounter", "nvmlDeviceGetRemappedRows",
    "nvmlDeviceGetFieldValues", "nvmlGpmQueryDeviceSupport", "nvmlGpmSampleAlloc", "nvmlGpmSampleFree",
    "nvmlGpmSampleGet", "nvmlGpmMigSampleGet", "nvmlGpmMetricsGet",
};
#define NFUNCTIONS (sizeof FUNCTIONS / sizeof FUNCTIONS[0])

/* A full GPU or a MIG device. Numbers are u64 so one parser fills them all; UNSET = not scripted. */
struct nvmlDevice_st {
    int gpu;                  /* index of the GPU, or of the parent GPU for a MIG device */
    int is_mig;
    u64 gi, ci;               /* MIG instance ids */
    char name[STR_LEN], uuid[STR_LEN];
    nvmlPciInfo_t pci;        /* busId[0] == 0: not scripted */
    u64 minor, mem_total, mem_reserved, mem_used, timeline_period;
    u64 util[2], power, power_limit, energy, temperature, clock[4], throttle, pcie[2], ecc[2][2];
    u64 mig_mode;
    u64 enc_util, dec_util, pcie_replay, remapped[4], mem_temp;
    u64 nvlinks, nvlink_kibs[2]; /* links; KiB/s per link, TX and RX */
    u64 gpm_supported;           /* 0 by default: GPM is Hopper and later */
};

struct point { int gpu; u64 t, used; };
struct process { int gpu, graphics; u64 pid, used, gi, ci; };
struct xid { int gpu; u64 t, code; };
struct process_name { u64 pid; char name[STR_LEN]; };
/* One GPM value: from `gpm`/`gpm_mig` (t == UNSET, the value before any timeline point) or one
 * point of `gpm_timeline`/`gpm_mig_timeline`. */
struct gpm_value { int gpu; u64 gi; /* UNSET: the whole GPU */ u64 metric, t; double value; };
enum rule_kind { FAIL, FAIL_EVERY, HANG };
struct rule {
    enum rule_kind kind;
    int gpu;                  /* -1: written before any `gpu` line, applies to every call */
    int fn;                   /* index into FUNCTIONS, or ANY_FUNCTION */
    u64 code, from, to;       /* to == UNSET: no window */
    u64 every, seen;          /* FAIL_EVERY */
    u64 ms;                   /* HANG */
    char path[STR_LEN];       /* `lost_while`: fires while this file exists ("" otherwise) */
};

/* Everything a script defines; zeroed and refilled on every load. */
static struct {
    enum { NOT_LOADED, LOADED, BROKEN } state;
    long long t0;             /* CLOCK_MONOTONIC ms at load: t = 0 */
    char driver_version[STR_LEN], nvml_version[STR_LEN];
    u64 init_error;
    struct nvmlDevice_st gpus[MAX_GPUS], migs[MAX_MIGS];
    unsigned ngpus, nmigs;
    struct point points[MAX_ENTRIES];
    struct process procs[MAX_ENTRIES];
    struct xid xids[MAX_ENTRIES];
    struct rule rules[MAX_ENTRIES];
    struct process_name pnames[MAX_ENTRIES];
    struct gpm_value gpm[MAX_ENTRIES];
    unsigned npoints, nprocs, nxids, nrules, npnames, ngpm;
} S;

struct nvmlEventSet_st {
    int in_use;
    unsigned registered;                 /* bit per GPU index registered for Xid events */
    unsigned char delivered[MAX_ENTRIES]; /* per S.xids entry: each xid reaches a set once */
};

/* A GPM sample records only where and when it was taken: MetricsGet reads the script's value
 * for that device or instance as of sample2's time. */
struct nvmlGpmSample_st {
    int in_use, taken;
    int gpu;
    u64 gi;                   /* UNSET: a whole-GPU sample; else a MIG GPU instance */
    u64 t, seq;               /* elapsed_ms() and the order of taking (ms ties are common) */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* guards everything below and S */
static unsigned refcount;                              /* nvmlInit_v2 minus nvmlShutdown */
static u64 calls[NFUNCTIONS];
static struct nvmlEventSet_st sets[MAX_SETS];
static struct nvmlGpmSample_st samples[MAX_SAMPLES];
static u64 sample_seq;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static u64 elapsed_ms(void) { return (u64)(mono_ms() - S.t0); }

/* Signalled when the script is reloaded or NVML shut down, so a waiting nvmlEventSetWait_v2 wakes
 * at once instead of polling (polling would cost the agent tens of wake-ups a second). */
static pthread_cond_t changed;
static pthread_once_t changed_once = PTHREAD_ONCE_INIT;

static void init_changed(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&changed, &attr);
    pthread_condattr_destroy(&attr);
}

/* Waits on `changed` for up to ms milliseconds; mu must be held. */
static void wait_changed_ms(u64 ms)
{
    pthread_once(&changed_once, init_changed);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&changed, &mu, &ts);
}

static void signal_changed(void)
{
    pthread_once(&changed_once, init_changed);
    pthread_cond_broadcast(&changed);
}

static void sleep_ms(u64 ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static int function_index(const char *name)
{
    for (size_t i = 0; i < NFUNCTIONS; i++)
        if (!strcmp(FUNCTIONS[i], name))
            return (int)i;
    return -1;
}

/* ---- Script parser: each helper returns NULL or an error message for the line. ---- */

/* Cuts the next blank-separated word off *p; NULL at the end of the line. */
static char *word(char **p)
{
    char *w = *p + strspn(*p, " \t");
    if (!*w)
        return NULL;
    char *end = w + strcspn(w, " \t");
    *p = *end ? end + 1 : end;
    *end = 0;
    return w;
}

/* Whether anything but blanks is left: optional trailing arguments. */
static int more(const char *p) { return p[strspn(p, " \t")] != 0; }

static const char *finished(const char *p) { return more(p) ? "unexpected extra text" : NULL; }

/* The next word as a number <= max: decimal, or hexadecimal with 0x (no signs, no octal). */
static int number(char **p, u64 max, u64 *out)
{
    char *w = word(p);
    if (!w)
        return 0;
    int hex = w[0] == '0' && (w[1] == 'x' || w[1] == 'X');
    const char *digits = hex ? w + 2 : w;
    if (!*digits || digits[strspn(digits, hex ? "0123456789abcdefABCDEF" : "0123456789")])
        return 0;
    errno = 0;
    *out = strtoull(digits, NULL, hex ? 16 : 10);
    return !errno && *out <= max;
}

/* A non-negative decimal such as 42 or 42.5, parsed by hand: strtod follows LC_NUMERIC, which a
 * host process (the .NET runtime) may have set to a locale with a decimal comma. */
static int decimal(char *w, double *out)
{
    size_t whole = strspn(w, "0123456789"), frac = 0;
    if (w[whole] == '.')
        frac = strspn(w + whole + 1, "0123456789");
    if (!whole && !frac)
        return 0;
    if (w[whole + (w[whole] == '.' ? 1 + frac : 0)] || whole + frac > 18)
        return 0;
    u64 mantissa = 0, scale = 1;
    for (size_t i = 0; i < whole; i++)
        mantissa = mantissa * 10 + (u64)(w[i] - '0');
    for (size_t i = 0; i < frac; i++, scale *= 10)
        mantissa = mantissa * 10 + (u64)(w[whole + 1 + i] - '0');
    /* Both exact in a double for up to 15 digits, so the one division rounds correctly. */
    *out = (double)mantissa / (double)scale;
    return 1;
}

/* The rest of the line, trimmed (names may contain spaces). */
static const char *text(char *p, char *dst)
{
    p += strspn(p, " \t");
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (!n)
        return "missing value";
    if (n >= STR_LEN)
        return "value too long";
    memcpy(dst, p, n);
    dst[n] = 0;
    return NULL;
}

static void device_init(struct nvmlDevice_st *d, int gpu)
{
    memset(d, 0, sizeof *d);
    d->gpu = gpu;
    d->minor = d->mem_total = d->util[0] = d->util[1] = d->power = d->power_limit = UNSET;
    d->energy = d->temperature = d->throttle = d->pcie[0] = d->pcie[1] = d->mig_mode = UNSET;
    d->enc_util = d->dec_util = d->pcie_replay = d->mem_temp = d->nvlinks = UNSET;
    d->nvlink_kibs[0] = d->nvlink_kibs[1] = UNSET;
    for (int i = 0; i < 4; i++)
        d->clock[i] = d->ecc[i / 2][i % 2] = d->remapped[i] = UNSET;
}

/* Device directives that set one number. */
static const struct { const char *name; size_t offset; u64 max; } SCALARS[] = {
    { "minor", offsetof(struct nvmlDevice_st, minor), UINT_MAX },
    { "memory_total", offsetof(struct nvmlDevice_st, mem_total), UNSET - 1 },
    { "memory_reserved", offsetof(struct nvmlDevice_st, mem_reserved), UNSET - 1 },
    { "memory_used", offsetof(struct nvmlDevice_st, mem_used), UNSET - 1 },
    { "memory_timeline_period", offsetof(struct nvmlDevice_st, timeline_period), UNSET - 1 },
    { "power_mw", offsetof(struct nvmlDevice_st, power), UINT_MAX },
    { "power_limit_mw", offsetof(struct nvmlDevice_st, power_limit), UINT_MAX },
    { "energy_mj", offsetof(struct nvmlDevice_st, energy), UNSET - 1 },
    { "temperature", offsetof(struct nvmlDevice_st, temperature), UINT_MAX },
    { "throttle_reasons", offsetof(struct nvmlDevice_st, throttle), UNSET - 1 },
    { "pcie_tx_kbs", offsetof(struct nvmlDevice_st, pcie[0]), UINT_MAX },
    { "pcie_rx_kbs", offsetof(struct nvmlDevice_st, pcie[1]), UINT_MAX },
    { "mig_mode", offsetof(struct nvmlDevice_st, mig_mode), 1 },
    { "encoder_util", offsetof(struct nvmlDevice_st, enc_util), 100 },
    { "decoder_util", offsetof(struct nvmlDevice_st, dec_util), 100 },
    { "pcie_replay", offsetof(struct nvmlDevice_st, pcie_replay), UINT_MAX },
    { "memory_temperature", offsetof(struct nvmlDevice_st, mem_temp), UINT_MAX },
    { "nvlink_links", offsetof(struct nvmlDevice_st, nvlinks), NVML_NVLINK_MAX_LINKS },
    { "gpm_supported", offsetof(struct nvmlDevice_st, gpm_supported), 1 },
};

/* Index of word w in a NULL-terminated list, or -1. */
static int one_of(const char *w, const char *const *list)
{
    for (int i = 0; w && list[i]; i++)
        if (!strcmp(w, list[i]))
            return i;
    return -1;
}

/* gpm / gpm_mig (one value) and gpm_timeline / gpm_mig_timeline (T:VALUE points). */
static const char *parse_gpm(char *p, int gpu, int mig, int timeline)
{
    static const char *const usage[2][2] = {
        { "expected: gpm METRIC_ID VALUE", "expected: gpm_timeline METRIC_ID T:VALUE ..." },
        { "expected: gpm_mig GI METRIC_ID VALUE", "expected: gpm_mig_timeline GI METRIC_ID T:VALUE ..." },
    };
    const char *err = usage[mig][timeline];
    u64 gi = UNSET, metric;
    char *w;
    if ((mig && !number(&p, UINT_MAX, &gi)) || !number(&p, NVML_GPM_METRIC_MAX - 1, &metric) || !metric)
        return err;
    if (!timeline) {
        if (S.ngpm == MAX_ENTRIES)
            return "too many GPM values";
        S.gpm[S.ngpm] = (struct gpm_value){ gpu, gi, metric, UNSET, 0 };
        if (!(w = word(&p)) || !decimal(w, &S.gpm[S.ngpm].value))
            return err;
        S.ngpm++;
        return finished(p);
    }
    unsigned first = S.ngpm;
    while ((w = word(&p))) {
        struct gpm_value *v = &S.gpm[S.ngpm];
        char *colon = strchr(w, ':'), *t = w;
        if (S.ngpm == MAX_ENTRIES)
            return "too many GPM values";
        if (!colon)
            return err;
        *colon = 0;
        *v = (struct gpm_value){ gpu, gi, metric, 0, 0 };
        if (!number(&t, UNSET - 1, &v->t) || !decimal(colon + 1, &v->value))
            return err;
        if (S.ngpm > first && S.gpm[S.ngpm - 1].t >= v->t)
            return "timeline times must increase";
        S.ngpm++;
    }
    return S.ngpm > first ? NULL : err;
}

/* fail / fail_every / hang; gpu is the current `gpu` block or -1. */
static const char *parse_rule(enum rule_kind kind, char *p, int gpu)
{
    if (S.nrules == MAX_ENTRIES)
        return "too many rules";
    struct rule *r = &S.rules[S.nrules];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->gpu = gpu;
    r->to = UNSET;
    char *fn = word(&p);
    /* nvmlErrorString returns no status, so it cannot fail or be delayed. */
    if (!fn || (r->fn = function_index(fn)) < 0 || !strcmp(fn, "nvmlErrorString"))
        return "unknown function, or nvmlErrorString";
    if (kind == HANG && !number(&p, UINT_MAX, &r->ms))
        return "expected: hang FUNCTION MS";
    if (kind != HANG && !number(&p, INT_MAX, &r->code))
        return "expected an nvmlReturn_t code";
    if (kind == FAIL_EVERY && (!number(&p, UNSET - 1, &r->every) || !r->every))
        return "expected: fail_every FUNCTION CODE N (N > 0)";
    if (kind == FAIL && more(p) &&
        (!number(&p, UNSET - 1, &r->from) || !number(&p, UNSET - 1, &r->to)))
        return "expected: fail FUNCTION CODE [FROM_MS TO_MS]";
    S.nrules++;
    return finished(p);
}

static const char *parse_line(char *p, int *gpu)
{
    static const char *const clocks[] = { "graphics", "sm", "mem", "video", NULL };
    static const char *const ecc_types[] = { "corrected", "uncorrected", NULL };
    static const char *const ecc_counters[] = { "volatile", "aggregate", NULL };
    static const char *const kinds[] = { "compute", "graphics", NULL };
    char *cmd = word(&p);
    u64 a, b;
    int i, j;

    if (!cmd)
        return NULL;
    /* Global directives, valid anywhere. */
    if (!strcmp(cmd, "driver_version"))
        return text(p, S.driver_version);
    if (!strcmp(cmd, "nvml_version"))
        return text(p, S.nvml_version);
    if (!strcmp(cmd, "init_error"))
        return number(&p, INT_MAX, &S.init_error) ? finished(p) : "expected a code";
    if (!strcmp(cmd, "process_name")) {
        if (S.npnames == MAX_ENTRIES || !number(&p, UINT_MAX, &S.pnames[S.npnames].pid))
            return "expected: process_name PID NAME";
        return text(p, S.pnames[S.npnames++].name);
    }
    if (!strcmp(cmd, "fail"))
        return parse_rule(FAIL, p, *gpu);
    if (!strcmp(cmd, "fail_every"))
        return parse_rule(FAIL_EVERY, p, *gpu);
    if (!strcmp(cmd, "hang"))
        return parse_rule(HANG, p, *gpu);
    if (!strcmp(cmd, "gpu")) {
        if (!number(&p, MAX_GPUS - 1, &a) || a != S.ngpus)
            return "GPUs must be numbered 0, 1, ... in order (at most 16)";
        device_init(&S.gpus[S.ngpus], (int)a);
        *gpu = (int)S.ngpus++;
        return finished(p);
    }

    /* Device directives. */
    if (*gpu < 0)
        return "unknown directive, or a device directive before any `gpu` line";
    struct nvmlDevice_st *d = &S.gpus[*gpu];
    for (size_t k = 0; k < sizeof SCALARS / sizeof SCALARS[0]; k++)
        if (!strcmp(cmd, SCALARS[k].name))
            return number(&p, SCALARS[k].max, (u64 *)((char *)d + SCALARS[k].offset))
                       ? finished(p) : "bad number";
    if (!strcmp(cmd, "name"))
        return text(p, d->name);
    if (!strcmp(cmd, "uuid"))
        return text(p, d->uuid);
    if (!strcmp(cmd, "pci_bus_id")) {
        unsigned dom, bus, dev, fn;
        char *id = word(&p), extra;
        if (!id || sscanf(id, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &extra) != 4 || bus > 0xff ||
            dev > 0x1f)
            return "expected DOMAIN:BUS:DEVICE.FUNCTION in hex";
        d->pci.domain = dom;
        d->pci.bus = bus;
        d->pci.device = dev;
        /* NVML prints these with a fixed width and uppercase, whatever the script wrote. */
        snprintf(d->pci.busId, sizeof d->pci.busId, "%08X:%02X:%02X.%X", dom, bus, dev, fn);
        snprintf(d->pci.busIdLegacy, sizeof d->pci.busIdLegacy, "%04X:%02X:%02X.%X", dom & 0xffff,
                 bus, dev, fn);
        return finished(p);
    }
    if (!strcmp(cmd, "memory_timeline")) {
        for (char *w; (w = word(&p));) {
            struct point *pt = &S.points[S.npoints];
            char *colon = strchr(w, ':');
            if (S.npoints == MAX_ENTRIES)
                return "too many timeline points";
            if (!colon)
                return "expected T:BYTES";
            *colon = 0;
            char *t = w, *bytes = colon + 1;
            if (!number(&t, UNSET - 1, &pt->t) || !number(&bytes, UNSET - 1, &pt->used))
                return "expected T:BYTES";
            if (S.npoints && S.points[S.npoints - 1].gpu == *gpu && S.points[S.npoints - 1].t >= pt->t)
                return "timeline times must increase";
            pt->gpu = *gpu;
            S.npoints++;
        }
        return NULL;
    }
    if (!strcmp(cmd, "utilization"))
        return number(&p, 100, &d->util[0]) && number(&p, 100, &d->util[1]) ? finished(p)
                                                                            : "expected: utilization GPU MEM";
    if (!strcmp(cmd, "clock")) {
        if ((i = one_of(word(&p), clocks)) < 0 || !number(&p, UINT_MAX, &d->clock[i]))
            return "expected: clock graphics|sm|mem|video MHZ";
        return finished(p);
    }
    if (!strcmp(cmd, "ecc")) {
        if ((i = one_of(word(&p), ecc_types)) < 0 || (j = one_of(word(&p), ecc_counters)) < 0 ||
            !number(&p, UNSET - 1, &d->ecc[i][j]))
            return "expected: ecc corrected|uncorrected volatile|aggregate N";
        return finished(p);
    }
    if (!strcmp(cmd, "process")) {
        struct process *pr = &S.procs[S.nprocs];
        if (S.nprocs == MAX_ENTRIES)
            return "too many processes";
        pr->gpu = *gpu;
        pr->gi = pr->ci = 0xFFFFFFFF;
        if ((pr->graphics = one_of(word(&p), kinds)) < 0 || !number(&p, UINT_MAX, &pr->pid) ||
            !number(&p, UNSET - 1, &pr->used))
            return "expected: process compute|graphics PID USED_BYTES [GI CI]";
        if (more(p) && (!number(&p, UINT_MAX, &pr->gi) || !number(&p, UINT_MAX, &pr->ci)))
            return "expected: process compute|graphics PID USED_BYTES [GI CI]";
        S.nprocs++;
        return finished(p);
    }
    if (!strcmp(cmd, "mig")) {
        unsigned count = 0;
        for (unsigned k = 0; k < S.nmigs; k++)
            count += S.migs[k].gpu == *gpu;
        if (count == MAX_MIG_PER_GPU)
            return "at most 7 MIG devices per GPU";
        struct nvmlDevice_st *m = &S.migs[S.nmigs];
        device_init(m, *gpu);
        m->is_mig = 1;
        if (!number(&p, UINT_MAX, &m->gi) || !number(&p, UINT_MAX, &m->ci) ||
            !number(&p, UNSET - 1, &m->mem_total) || !number(&p, UNSET - 1, &m->mem_used))
            return "expected: mig GI CI MEMORY_TOTAL MEMORY_USED [UUID]";
        if (more(p) && text(p, m->uuid))
            return "bad UUID";
        S.nmigs++;
        return NULL;
    }
    if (!strcmp(cmd, "nvlink_kib_per_s")) {
        static const char *const directions[] = { "tx", "rx", NULL };
        if ((i = one_of(word(&p), directions)) < 0 || !number(&p, UINT_MAX, &d->nvlink_kibs[i]))
            return "expected: nvlink_kib_per_s tx|rx KIB_PER_SECOND_PER_LINK";
        return finished(p);
    }
    if (!strcmp(cmd, "remapped_rows")) {
        if (!number(&p, UINT_MAX, &d->remapped[0]) || !number(&p, UINT_MAX, &d->remapped[1]) ||
            !number(&p, 1, &d->remapped[2]) || !number(&p, 1, &d->remapped[3]))
            return "expected: remapped_rows CORRECTABLE UNCORRECTABLE PENDING(0|1) FAILURE(0|1)";
        return finished(p);
    }
    if (!strcmp(cmd, "gpm"))
        return parse_gpm(p, *gpu, 0, 0);
    if (!strcmp(cmd, "gpm_mig"))
        return parse_gpm(p, *gpu, 1, 0);
    if (!strcmp(cmd, "gpm_timeline"))
        return parse_gpm(p, *gpu, 0, 1);
    if (!strcmp(cmd, "gpm_mig_timeline"))
        return parse_gpm(p, *gpu, 1, 1);
    if (!strcmp(cmd, "xid")) {
        if (S.nxids == MAX_ENTRIES || !number(&p, UNSET - 1, &a) || !number(&p, UNSET - 1, &b))
            return "expected: xid T CODE";
        S.xids[S.nxids++] = (struct xid){ *gpu, a, b };
        return finished(p);
    }
    if (!strcmp(cmd, "lost")) {
        if (S.nrules == MAX_ENTRIES || !number(&p, UNSET - 1, &a) || !number(&p, UNSET - 1, &b))
            return "expected: lost FROM_MS TO_MS";
        S.rules[S.nrules++] = (struct rule){ .kind = FAIL, .gpu = *gpu, .fn = ANY_FUNCTION,
                                             .code = NVML_ERROR_GPU_IS_LOST, .from = a, .to = b };
        return finished(p);
    }
    if (!strcmp(cmd, "lost_while")) {
        if (S.nrules == MAX_ENTRIES)
            return "too many rules";
        struct rule *r = &S.rules[S.nrules];
        *r = (struct rule){ .kind = FAIL, .gpu = *gpu, .fn = ANY_FUNCTION,
                            .code = NVML_ERROR_GPU_IS_LOST, .to = UNSET };
        if (text(p, r->path))
            return "expected: lost_while PATH (at most 95 characters)";
        S.nrules++;
        return NULL;
    }
    return "unknown directive";
}

/* Replaces the script; called with mu held. Prints the offending line and returns -1 on error. */
static int load_script(const char *path)
{
    char line[4096], copy[sizeof line];
    const char *err = NULL;
    unsigned lineno = 0;
    int gpu = -1;
    FILE *f = fopen(path, "r");

    memset(&S, 0, sizeof S);
    /* Allocated GPM samples stay allocated, but one taken under the old script and clock is void
     * (its GPU index may not even exist any more), whether or not the new script loads. */
    for (int i = 0; i < MAX_SAMPLES; i++)
        samples[i].taken = 0;
    if (!f) {
        fprintf(stderr, "fake-nvml: %s: cannot open: %s\n", path, strerror(errno));
        S.state = BROKEN;
        return -1;
    }
    while (!err && fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f))
            err = "line too long";
        line[strcspn(line, "\r\n")] = 0;
        strcpy(copy, line);
        line[strcspn(line, "#")] = 0;
        if (!err)
            err = parse_line(line, &gpu);
    }
    fclose(f);
    if (err) {
        fprintf(stderr, "fake-nvml: %s:%u: %s: %s\n", path, lineno, err, copy);
        memset(&S, 0, sizeof S);
        S.state = BROKEN;
        return -1;
    }
    S.state = LOADED;
    S.t0 = mono_ms();
    memset(calls, 0, sizeof calls);
    for (int i = 0; i < MAX_SETS; i++)
        memset(sets[i].delivered, 0, sizeof sets[i].delivered);
    return 0;
}

/* ---- The prologue shared by every export. ---- */

enum { ON_DEVICE = 1, MIG_OK = 2, BEFORE_INIT = 4 };

static struct nvmlDevice_st *lookup(nvmlDevice_t h)
{
    for (unsigned i = 0; i < S.ngpus; i++)
        if (h == &S.gpus[i])
            return h;
    for (unsigned i = 0; i < S.nmigs; i++)
        if (h == &S.migs[i])
            return h;
    return NULL;
}

static nvmlReturn_t check_state(unsigned flags, nvmlDevice_t h, struct nvmlDevice_st **dev)
{
    if (!refcount && !(flags & BEFORE_INIT))
        return NVML_ERROR_UNINITIALIZED;
    if ((flags & ON_DEVICE) && !(*dev = lookup(h)))
        return NVML_ERROR_INVALID_ARGUMENT;
    return NVML_SUCCESS;
}

/* A rule concerns this call if it names the function (or is a `lost` window) and was written for
 * this call's GPU, or before any `gpu` line. A MIG device answers to its parent GPU's rules. */
static int rule_matches(const struct rule *r, int fn, int gpu)
{
    if (r->fn == ANY_FUNCTION)
        return gpu >= 0 && r->gpu == gpu;
    return r->fn == fn && (r->gpu < 0 || r->gpu == gpu);
}

/*
 * Every export starts here and ends with end(), which releases the lock begin() takes. Order:
 * count the call, initialised?, valid handle?, hang (lock released while sleeping, state checked
 * again after), lost/fail/fail_every rules, then MIG handles on functions that refuse them.
 */
static nvmlReturn_t begin(const char *function, unsigned flags, nvmlDevice_t h, struct nvmlDevice_st **dev)
{
    int fn = function_index(function);
    struct nvmlDevice_st *d = NULL;
    nvmlReturn_t r;
    u64 hang = 0;

    pthread_mutex_lock(&mu);
    calls[fn]++;
    if ((r = check_state(flags, h, &d)))
        return r;
    int gpu = d ? d->gpu : -1;
    for (unsigned i = 0; i < S.nrules && !hang; i++)
        if (S.rules[i].kind == HANG && rule_matches(&S.rules[i], fn, gpu))
            hang = S.rules[i].ms;
    if (hang) {
        pthread_mutex_unlock(&mu);
        sleep_ms(hang);
        pthread_mutex_lock(&mu);
        if ((r = check_state(flags, h, &d))) /* shut down or reloaded meanwhile */
            return r;
    }

    u64 t = elapsed_ms();
    for (unsigned i = 0; i < S.nrules; i++) {
        struct rule *rule = &S.rules[i];
        if (rule->kind == HANG || !rule_matches(rule, fn, gpu))
            continue;
        /* Every fail_every rule counts the call, even when an earlier rule already fired. */
        int fires = rule->kind == FAIL_EVERY ? ++rule->seen % rule->every == 0
                    : rule->path[0]          ? access(rule->path, F_OK) == 0
                                             : rule->to == UNSET || (rule->from <= t && t < rule->to);
        if (fires && !r)
            r = (nvmlReturn_t)rule->code;
    }
    if (!r && d && d->is_mig && !(flags & MIG_OK))
        r = NVML_ERROR_NOT_SUPPORTED;
    if (dev)
        *dev = d;
    return r;
}

static nvmlReturn_t end(nvmlReturn_t r)
{
    pthread_mutex_unlock(&mu);
    return r;
}

/* Output helpers: NULL output is INVALID_ARGUMENT, an unscripted value NOT_SUPPORTED. */
static nvmlReturn_t put_u32(u64 v, unsigned int *out)
{
    if (!out)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (v == UNSET)
        return NVML_ERROR_NOT_SUPPORTED;
    *out = (unsigned int)v;
    return NVML_SUCCESS;
}

static nvmlReturn_t put_u64(u64 v, unsigned long long *out)
{
    if (!out)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (v == UNSET)
        return NVML_ERROR_NOT_SUPPORTED;
    *out = v;
    return NVML_SUCCESS;
}

static nvmlReturn_t put_str(const char *v, char *out, unsigned int length)
{
    if (!out)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!*v)
        return NVML_ERROR_NOT_SUPPORTED;
    if (strlen(v) >= length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(out, v);
    return NVML_SUCCESS;
}

/* Used bytes now: the memory timeline (if any) of a GPU, the fixed value of a MIG device. */
static u64 memory_used(const struct nvmlDevice_st *d)
{
    u64 t = elapsed_ms(), used = d->mem_used;
    if (d->is_mig)
        return used;
    if (d->timeline_period)
        t %= d->timeline_period;
    for (unsigned i = 0; i < S.npoints; i++)
        if (S.points[i].gpu == d->gpu && S.points[i].t <= t)
            used = S.points[i].used;
    return used;
}

/* ---- Initialisation and system queries ---- */

nvmlReturn_t nvmlInit_v2(void)
{
    pthread_mutex_lock(&mu);
    if (S.state == NOT_LOADED) {
        const char *path = getenv("FAKE_NVML_SCRIPT");
        if (path && *path) {
            load_script(path);
        } else {
            S.state = LOADED;
            S.t0 = mono_ms();
        }
    }
    pthread_mutex_unlock(&mu);

    nvmlReturn_t r = begin(__func__, BEFORE_INIT, NULL, NULL);
    if (!r && S.state == BROKEN)
        r = NVML_ERROR_UNKNOWN;
    if (!r && S.init_error)
        r = (nvmlReturn_t)S.init_error;
    if (!r)
        refcount++;
    return end(r);
}

nvmlReturn_t nvmlShutdown(void)
{
    nvmlReturn_t r = begin(__func__, 0, NULL, NULL);
    if (!r) {
        refcount--;
        signal_changed();
    }
    return end(r);
}

const char *nvmlErrorString(nvmlReturn_t result)
{
    /* Codes 0-18 and 20 carry the real library's texts (as pynvml documents them), since callers
     * log or match them; the later codes use nvml.h's descriptions, the real texts may differ. */
    static const char *const texts[] = {
        "Success", "Uninitialized", "Invalid Argument", "Not Supported", "Insufficient Permissions",
        "Already Initialized", "Not Found", "Insufficient Size", "Insufficient External Power",
        "Driver Not Loaded", "Timeout", "Interrupt Request Issue", "NVML Shared Library Not Found",
        "Function Not Found", "Corrupted infoROM", "GPU is lost", "GPU requires restart",
        "The operating system has blocked the request.",
        "RM has detected an NVML/RM version mismatch.",
        "An operation cannot be performed because the GPU is currently in use",
        "Insufficient Memory", "No data",
        "The requested vgpu operation is not available on target device, becasue ECC is enabled",
        "Ran out of critical resources, other than memory", "The requested frequency is not supported",
        "The provided version is invalid/unsupported", "The requested functionality has been deprecated",
        "The system is not ready for the request", "No GPUs were found",
        "Resource not in correct state to perform requested operation",
        "Reset not supported for given device/parameters",
    };
    pthread_mutex_lock(&mu);
    calls[function_index(__func__)]++;
    pthread_mutex_unlock(&mu);
    if ((unsigned)result < sizeof texts / sizeof texts[0])
        return texts[result];
    return "Unknown Error";
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    nvmlReturn_t r = begin(__func__, 0, NULL, NULL);
    return end(r ? r : put_str(S.driver_version, version, length));
}

nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
    nvmlReturn_t r = begin(__func__, 0, NULL, NULL);
    return end(r ? r : put_str(S.nvml_version, version, length));
}

nvmlReturn_t nvmlSystemGetProcessName(unsigned int pid, char *name, unsigned int length)
{
    nvmlReturn_t r = begin(__func__, 0, NULL, NULL);
    if (r)
        return end(r);
    if (!name || !length)
        return end(NVML_ERROR_INVALID_ARGUMENT);
    for (unsigned i = 0; i < S.npnames; i++) {
        if (S.pnames[i].pid == pid) {
            snprintf(name, length, "%s", S.pnames[i].name); /* NVML crops to length */
            return end(NVML_SUCCESS);
        }
    }
    return end(NVML_ERROR_NOT_FOUND);
}

/* ---- Device enumeration and identity ---- */

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    nvmlReturn_t r = begin(__func__, 0, NULL, NULL);
    return end(r ? r : put_u32(S.ngpus, deviceCount));
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    /* An index past the last GPU fails the handle check: INVALID_ARGUMENT, as in NVML. */
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, index < MAX_GPUS ? &S.gpus[index] : NULL, &d);
    if (!r && !device)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (!r)
        *device = d;
    return end(r);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    return end(r ? r : put_str(d->name, name, length));
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE | MIG_OK, device, &d);
    if (r)
        return end(r);
    char mig_uuid[2 * STR_LEN];
    if (d->is_mig && !*d->uuid && *S.gpus[d->gpu].uuid) {
        /* No UUID scripted: the pre-R470 MIG identifier form, MIG-<GPU UUID>/<GI>/<CI>. */
        snprintf(mig_uuid, sizeof mig_uuid, "MIG-%s/%llu/%llu", S.gpus[d->gpu].uuid, d->gi, d->ci);
        return end(put_str(mig_uuid, uuid, length));
    }
    return end(put_str(d->uuid, uuid, length));
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    if (!r && !pci)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (!r && !*d->pci.busId)
        r = NVML_ERROR_NOT_SUPPORTED;
    if (!r)
        *pci = d->pci;
    return end(r);
}

nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minorNumber)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    return end(r ? r : put_u32(d->minor, minorNumber));
}

/* ---- Memory, utilisation, power, thermals, clocks ---- */

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE | MIG_OK, device, &d);
    if (!r && !memory)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (!r && memory->version != nvmlMemory_v2)
        r = NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    if (!r && d->mem_total == UNSET)
        r = NVML_ERROR_NOT_SUPPORTED;
    if (!r) {
        u64 used = memory_used(d), taken = used + d->mem_reserved;
        memory->total = d->mem_total;
        memory->reserved = d->mem_reserved;
        memory->used = used;
        memory->free = taken < d->mem_total ? d->mem_total - taken : 0;
    }
    return end(r);
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE | MIG_OK, device, &d);
    if (!r && !memory)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (!r && d->mem_total == UNSET)
        r = NVML_ERROR_NOT_SUPPORTED;
    if (!r) {
        /* v1 has no reserved field: it reports reserved memory as used. */
        u64 used = memory_used(d) + d->mem_reserved;
        memory->total = d->mem_total;
        memory->used = used;
        memory->free = used < d->mem_total ? d->mem_total - used : 0;
    }
    return end(r);
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    if (!r)
        r = put_u32(d->util[0], utilization ? &utilization->gpu : NULL);
    if (!r)
        utilization->memory = (unsigned int)d->util[1];
    return end(r);
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    return end(r ? r : put_u32(d->power, power));
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    return end(r ? r : put_u32(d->power_limit, limit));
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    if (r)
        return end(r);
    /* Energy grows at the scripted power draw: mW * ms / 1000 = mJ. */
    u64 power = d->power == UNSET ? 0 : d->power;
    return end(put_u64(d->energy == UNSET ? UNSET : d->energy + power * elapsed_ms() / 1000, energy));
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensorType,
                                      unsigned int *temp)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    if (!r && sensorType != NVML_TEMPERATURE_GPU)
        r = NVML_ERROR_INVALID_ARGUMENT;
    return end(r ? r : put_u32(d->temperature, temp));
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type, unsigned int *clock)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    if (!r && (unsigned)type > NVML_CLOCK_VIDEO)
        r = NVML_ERROR_INVALID_ARGUMENT;
    return end(r ? r : put_u32(d->clock[type], clock));
}

nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device, unsigned long long *clocksEventReasons)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    return end(r ? r : put_u64(d->throttle, clocksEventReasons));
}

/* Encoder and decoder utilisation share everything but the value. */
static nvmlReturn_t codec_utilization(const char *function, nvmlDevice_t device, u64 decoder,
                                      unsigned int *utilization, unsigned int *samplingPeriodUs)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(function, ON_DEVICE, device, &d);
    if (!r && !samplingPeriodUs)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (!r && d->mig_mode == 1) /* nvml.h: not supported on MIG-enabled GPUs */
        r = NVML_ERROR_NOT_SUPPORTED;
    if (!r)
        r = put_u32(decoder ? d->dec_util : d->enc_util, utilization);
    if (!r)
        *samplingPeriodUs = 167000; /* what current drivers report: a 1/6 s window */
    return end(r);
}

nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t device, unsigned int *utilization,
                                             unsigned int *samplingPeriodUs)
{
    return codec_utilization(__func__, device, 0, utilization, samplingPeriodUs);
}

nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t device, unsigned int *utilization,
                                             unsigned int *samplingPeriodUs)
{
    return codec_utilization(__func__, device, 1, utilization, samplingPeriodUs);
}

/* The pre-12.2 name of the same query. */
nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device, unsigned long long *clocksThrottleReasons)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    return end(r ? r : put_u64(d->throttle, clocksThrottleReasons));
}

nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t device, nvmlPcieUtilCounter_t counter, unsigned int *value)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    if (!r && (unsigned)counter > NVML_PCIE_UTIL_RX_BYTES)
        r = NVML_ERROR_INVALID_ARGUMENT;
    return end(r ? r : put_u32(d->pcie[counter], value));
}

nvmlReturn_t nvmlDeviceGetPcieReplayCounter(nvmlDevice_t device, unsigned int *value)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    return end(r ? r : put_u32(d->pcie_replay, value));
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, nvmlMemoryErrorType_t errorType,
                                         nvmlEccCounterType_t counterType, unsigned long long *eccCounts)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    if (!r && ((unsigned)errorType > 1 || (unsigned)counterType > 1))
        r = NVML_ERROR_INVALID_ARGUMENT;
    return end(r ? r : put_u64(d->ecc[errorType][counterType], eccCounts));
}

/* Whether the script gives GPU gpu a `mig` device in GPU instance gi (UNSET: any instance). */
static int has_instance(int gpu, u64 gi)
{
    for (unsigned i = 0; i < S.nmigs; i++)
        if (S.migs[i].gpu == gpu && (gi == UNSET || S.migs[i].gi == gi))
            return 1;
    return 0;
}

nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t device, unsigned int *corrRows, unsigned int *uncRows,
                                       unsigned int *isPending, unsigned int *failureOccurred)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    if (!r && (!corrRows || !uncRows || !isPending || !failureOccurred))
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (!r && d->mig_mode == 1 && has_instance(d->gpu, UNSET)) /* nvml.h: not with MIG instances */
        r = NVML_ERROR_NOT_SUPPORTED;
    if (!r && d->remapped[0] == UNSET)
        r = NVML_ERROR_NOT_SUPPORTED;
    if (!r) {
        *corrRows = (unsigned int)d->remapped[0];
        *uncRows = (unsigned int)d->remapped[1];
        *isPending = (unsigned int)d->remapped[2];
        *failureOccurred = (unsigned int)d->remapped[3];
    }
    return end(r);
}

/* ---- Processes ---- */

/* A MIG handle sees only the processes of its own instance. */
static int process_visible(const struct process *p, const struct nvmlDevice_st *d, int graphics)
{
    return p->gpu == d->gpu && p->graphics == graphics && (!d->is_mig || (p->gi == d->gi && p->ci == d->ci));
}

/*
 * The running-process queries of every version share this body; they differ in the record they
 * write: v1 nvmlProcessInfo_v1_t (16 bytes), v2 and v3 nvmlProcessInfo_t (24), except that a
 * driver built as FAKE_PROCESS_INFO_V3_CC (535.x before 535.104) writes 32-byte records from v3.
 */
static nvmlReturn_t processes(const char *function, nvmlDevice_t device, unsigned int *infoCount,
                              void *infos, int graphics, int version)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(function, ON_DEVICE | MIG_OK, device, &d);
    if (r)
        return end(r);
    if (!infoCount)
        return end(NVML_ERROR_INVALID_ARGUMENT);
    unsigned n = 0;
    for (unsigned i = 0; i < S.nprocs; i++)
        n += process_visible(&S.procs[i], d, graphics);
    /* The sizing protocol: a short array gets the needed count back; NULL is fine for 0 of 0. */
    if (*infoCount < n) {
        *infoCount = n;
        return end(NVML_ERROR_INSUFFICIENT_SIZE);
    }
    if (n && !infos)
        return end(NVML_ERROR_INVALID_ARGUMENT);
    for (unsigned i = 0, k = 0; i < S.nprocs; i++) {
        const struct process *p = &S.procs[i];
        if (!process_visible(p, d, graphics))
            continue;
        if (version == 1) {
            ((nvmlProcessInfo_v1_t *)infos)[k++] = (nvmlProcessInfo_v1_t){ (unsigned)p->pid, p->used };
        } else if (version == 3 && FAKE_PROCESS_INFO_V3_CC) {
            ((nvmlProcessInfo_v3cc_t *)infos)[k++] =
                (nvmlProcessInfo_v3cc_t){ (unsigned)p->pid, p->used, (unsigned)p->gi, (unsigned)p->ci, 0 };
        } else {
            ((nvmlProcessInfo_t *)infos)[k++] = (nvmlProcessInfo_t){ (unsigned)p->pid, p->used, (unsigned)p->gi, (unsigned)p->ci };
        }
    }
    *infoCount = n;
    return end(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
                                                     nvmlProcessInfo_t *infos)
{
    return processes(__func__, device, infoCount, infos, 0, 3);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
                                                      nvmlProcessInfo_t *infos)
{
    return processes(__func__, device, infoCount, infos, 1, 3);
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned int *infoCount,
                                                     nvmlProcessInfo_t *infos)
{
    return processes(__func__, device, infoCount, infos, 0, 2);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v2(nvmlDevice_t device, unsigned int *infoCount,
                                                      nvmlProcessInfo_t *infos)
{
    return processes(__func__, device, infoCount, infos, 1, 2);
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device, unsigned int *infoCount,
                                                  nvmlProcessInfo_v1_t *infos)
{
    return processes(__func__, device, infoCount, infos, 0, 1);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses(nvmlDevice_t device, unsigned int *infoCount,
                                                   nvmlProcessInfo_v1_t *infos)
{
    return processes(__func__, device, infoCount, infos, 1, 1);
}

/* ---- MIG ---- */

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    if (!r && !currentMode)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (!r) /* the fake never has a mode change pending */
        r = put_u32(d->mig_mode, pendingMode);
    if (!r)
        *currentMode = (unsigned int)d->mig_mode;
    return end(r);
}

nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    if (r)
        return end(r);
    return end(put_u32(d->mig_mode == UNSET ? UNSET : d->mig_mode * MAX_MIG_PER_GPU, count));
}

nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index, nvmlDevice_t *migDevice)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    if (!r && !migDevice)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (!r && d->mig_mode == UNSET)
        r = NVML_ERROR_NOT_SUPPORTED;
    if (r)
        return end(r);
    for (unsigned i = 0, k = 0; i < S.nmigs; i++) {
        if (S.migs[i].gpu == d->gpu && k++ == index) {
            *migDevice = &S.migs[i];
            return end(NVML_SUCCESS);
        }
    }
    return end(NVML_ERROR_NOT_FOUND);
}

nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE | MIG_OK, device, &d);
    return end(r ? r : put_u32((u64)d->is_mig, isMigDevice));
}

nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE | MIG_OK, device, &d);
    return end(r ? r : put_u32(d->is_mig ? d->gi : UNSET, id));
}

nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE | MIG_OK, device, &d);
    return end(r ? r : put_u32(d->is_mig ? d->ci : UNSET, id));
}

/* ---- Events: scripted Xids only ---- */

static struct nvmlEventSet_st *find_set(nvmlEventSet_t set)
{
    for (int i = 0; i < MAX_SETS; i++)
        if (set == &sets[i] && sets[i].in_use)
            return set;
    return NULL;
}

nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *eventTypes)
{
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, NULL);
    return end(r ? r : put_u64(nvmlEventTypeXidCriticalError, eventTypes));
}

nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
    nvmlReturn_t r = begin(__func__, 0, NULL, NULL);
    if (!r && !set)
        r = NVML_ERROR_INVALID_ARGUMENT;
    for (int i = 0; !r && i < MAX_SETS; i++) {
        if (!sets[i].in_use) {
            memset(&sets[i], 0, sizeof sets[i]);
            sets[i].in_use = 1;
            *set = &sets[i];
            return end(NVML_SUCCESS);
        }
    }
    return end(r ? r : NVML_ERROR_MEMORY);
}

nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long eventTypes, nvmlEventSet_t set)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    struct nvmlEventSet_st *s = r ? NULL : find_set(set);
    if (!r && !s)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (!r && (eventTypes & ~(unsigned long long)nvmlEventTypeXidCriticalError))
        r = NVML_ERROR_NOT_SUPPORTED; /* as NVML does for types outside the supported mask */
    if (!r && (eventTypes & nvmlEventTypeXidCriticalError))
        s->registered |= 1u << d->gpu;
    return end(r);
}

nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
    nvmlReturn_t r = begin(__func__, 0, NULL, NULL);
    if (!r && !data)
        r = NVML_ERROR_INVALID_ARGUMENT;
    long long deadline = mono_ms() + timeoutms;
    while (!r) {
        struct nvmlEventSet_st *s = find_set(set);
        if (!s)
            return end(NVML_ERROR_INVALID_ARGUMENT);
        /* The earliest undelivered Xid that is due; else how long until one falls due. */
        long long left = deadline - mono_ms();
        u64 t = elapsed_ms(), wait = left > 0 ? (u64)left : 0;
        int due = -1;
        for (unsigned i = 0; i < S.nxids; i++) {
            const struct xid *x = &S.xids[i];
            if (s->delivered[i] || !(s->registered & (1u << x->gpu)))
                continue;
            if (x->t <= t && (due < 0 || x->t < S.xids[due].t))
                due = (int)i;
            else if (x->t > t && x->t - t < wait)
                wait = x->t - t;
        }
        if (due >= 0) {
            s->delivered[due] = 1;
            *data = (nvmlEventData_t){ &S.gpus[S.xids[due].gpu], nvmlEventTypeXidCriticalError,
                                       S.xids[due].code, 0xFFFFFFFF, 0xFFFFFFFF };
            return end(NVML_SUCCESS);
        }
        if (!wait)
            return end(NVML_ERROR_TIMEOUT);
        /* Wait unlocked until the next Xid falls due or the script is reloaded. */
        wait_changed_ms(wait);
        if (!refcount)
            r = NVML_ERROR_UNINITIALIZED;
    }
    return end(r);
}

nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    nvmlReturn_t r = begin(__func__, 0, NULL, NULL);
    struct nvmlEventSet_st *s = r ? NULL : find_set(set);
    if (!r && !s)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (!r)
        s->in_use = 0;
    return end(r);
}

/* ---- Field values ---- */

/* One field of nvmlDeviceGetFieldValues: its status, and on success its type and value. */
static nvmlReturn_t field_value(const struct nvmlDevice_st *d, nvmlFieldValue_t *v, u64 t)
{
    switch (v->fieldId) {
    case NVML_FI_DEV_MEMORY_TEMP:
    case NVML_FI_DEV_PCIE_REPLAY_COUNTER: {
        u64 x = v->fieldId == NVML_FI_DEV_MEMORY_TEMP ? d->mem_temp : d->pcie_replay;
        if (x == UNSET)
            return NVML_ERROR_NOT_SUPPORTED;
        v->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
        v->value.uiVal = (unsigned int)x;
        return NVML_SUCCESS;
    }
    case NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX:
    case NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX: {
        u64 rate = d->nvlink_kibs[v->fieldId - NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX];
        if (d->nvlinks == UNSET || rate == UNSET)
            return NVML_ERROR_NOT_SUPPORTED;
        /* scopeId is the link, or UINT_MAX for all links summed. */
        if (v->scopeId != UINT_MAX && v->scopeId >= d->nvlinks)
            return NVML_ERROR_INVALID_ARGUMENT;
        u64 links = v->scopeId == UINT_MAX ? d->nvlinks : 1;
        /* A KiB counter from 0 at load, each link moving `rate` KiB/s: rates come from deltas. */
        v->valueType = NVML_VALUE_TYPE_UNSIGNED_LONG_LONG;
        v->value.ullVal = links * (rate * t / 1000);
        return NVML_SUCCESS;
    }
    }
    return NVML_ERROR_NOT_SUPPORTED;
}

nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int valuesCount, nvmlFieldValue_t *values)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE, device, &d);
    if (!r && (!values || valuesCount < 0))
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r)
        return end(r);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    u64 t = elapsed_ms();
    for (int i = 0; i < valuesCount; i++) {
        values[i].timestamp = now.tv_sec * 1000000LL + now.tv_nsec / 1000;
        values[i].latencyUsec = 0;
        values[i].nvmlReturn = field_value(d, &values[i], t);
    }
    /* As in NVML: success overall, each field carries its own status. */
    return end(NVML_SUCCESS);
}

/* ---- GPU Performance Monitoring (GPM) ---- */

static struct nvmlGpmSample_st *find_sample(nvmlGpmSample_t sample)
{
    for (int i = 0; i < MAX_SAMPLES; i++)
        if (sample == &samples[i] && samples[i].in_use)
            return sample;
    return NULL;
}

/* The scripted value of metric for a GPU (gi UNSET) or one of its GPU instances at time t: the
 * latest timeline point due by then, else the `gpm`/`gpm_mig` value. 0 if there is neither. */
static int gpm_value(int gpu, u64 gi, u64 metric, u64 t, double *out)
{
    const struct gpm_value *base = NULL, *point = NULL;
    for (unsigned i = 0; i < S.ngpm; i++) {
        const struct gpm_value *v = &S.gpm[i];
        if (v->gpu != gpu || v->gi != gi || v->metric != metric)
            continue;
        if (v->t == UNSET)
            base = v;
        else if (v->t <= t && (!point || v->t >= point->t))
            point = v;
    }
    if (!point && !base)
        return 0;
    *out = point ? point->value : base->value;
    return 1;
}

nvmlReturn_t nvmlGpmQueryDeviceSupport(nvmlDevice_t device, nvmlGpmSupport_t *gpmSupport)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(__func__, ON_DEVICE | MIG_OK, device, &d);
    if (!r && !gpmSupport)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (!r && gpmSupport->version != NVML_GPM_SUPPORT_VERSION)
        r = NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    if (!r) /* a MIG device has its GPU's support */
        gpmSupport->isSupportedDevice = (unsigned int)S.gpus[d->gpu].gpm_supported;
    return end(r);
}

nvmlReturn_t nvmlGpmSampleAlloc(nvmlGpmSample_t *gpmSample)
{
    nvmlReturn_t r = begin(__func__, 0, NULL, NULL);
    if (!r && !gpmSample)
        r = NVML_ERROR_INVALID_ARGUMENT;
    for (int i = 0; !r && i < MAX_SAMPLES; i++) {
        if (!samples[i].in_use) {
            memset(&samples[i], 0, sizeof samples[i]);
            samples[i].in_use = 1;
            *gpmSample = &samples[i];
            return end(NVML_SUCCESS);
        }
    }
    return end(r ? r : NVML_ERROR_MEMORY);
}

nvmlReturn_t nvmlGpmSampleFree(nvmlGpmSample_t gpmSample)
{
    nvmlReturn_t r = begin(__func__, 0, NULL, NULL);
    struct nvmlGpmSample_st *s = r ? NULL : find_sample(gpmSample);
    if (!r && !s) /* never allocated, or freed already */
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (!r)
        s->in_use = s->taken = 0;
    return end(r);
}

/* nvmlGpmSampleGet (on_instance 0: the GPU, or the instance of a MIG handle) and
 * nvmlGpmMigSampleGet (GPU instance gi of a full GPU). */
static nvmlReturn_t take_sample(const char *function, nvmlDevice_t device, int on_instance, unsigned gi,
                                nvmlGpmSample_t gpmSample)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = begin(function, on_instance ? ON_DEVICE : ON_DEVICE | MIG_OK, device, &d);
    struct nvmlGpmSample_st *s = r ? NULL : find_sample(gpmSample);
    if (!r && !s)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (!r && !S.gpus[d->gpu].gpm_supported)
        r = NVML_ERROR_NOT_SUPPORTED;
    if (!r && on_instance && !has_instance(d->gpu, gi))
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (!r)
        *s = (struct nvmlGpmSample_st){ .in_use = 1, .taken = 1, .gpu = d->gpu,
                                        .gi = on_instance ? gi : d->is_mig ? d->gi : UNSET,
                                        .t = elapsed_ms(), .seq = ++sample_seq };
    return end(r);
}

nvmlReturn_t nvmlGpmSampleGet(nvmlDevice_t device, nvmlGpmSample_t gpmSample)
{
    return take_sample(__func__, device, 0, 0, gpmSample);
}

nvmlReturn_t nvmlGpmMigSampleGet(nvmlDevice_t device, unsigned int gpuInstanceId, nvmlGpmSample_t gpmSample)
{
    return take_sample(__func__, device, 1, gpuInstanceId, gpmSample);
}

nvmlReturn_t nvmlGpmMetricsGet(nvmlGpmMetricsGet_t *metricsGet)
{
    /* The call concerns the GPU its samples were taken on, so that GPU's rules (lost, fail, hang)
     * apply: find it first. An untaken or unknown sample1 leaves no GPU, and begin() answers 2. */
    nvmlDevice_t gpu = NULL;
    pthread_mutex_lock(&mu);
    struct nvmlGpmSample_st *s1 = metricsGet ? find_sample(metricsGet->sample1) : NULL, *s2;
    if (s1 && s1->taken)
        gpu = &S.gpus[s1->gpu];
    pthread_mutex_unlock(&mu);

    nvmlReturn_t r = begin(__func__, ON_DEVICE, gpu, NULL);
    if (r)
        return end(r);
    if (metricsGet->version != NVML_GPM_METRICS_GET_VERSION)
        return end(NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
    /* Looked up again: another thread may have retaken or freed them while the lock was free. */
    s1 = find_sample(metricsGet->sample1);
    s2 = find_sample(metricsGet->sample2);
    /* Two samples of one GPU or instance, sample2 taken after sample1. numMetrics is bounded by
     * API 13's array (333); a caller built against API 12 has 98 entries, so only [0, numMetrics)
     * is ever touched. */
    if (!s1 || !s2 || !s1->taken || !s2->taken || s1->gpu != s2->gpu || s1->gi != s2->gi ||
        s2->seq <= s1->seq || metricsGet->numMetrics > NVML_GPM_METRIC_MAX)
        return end(NVML_ERROR_INVALID_ARGUMENT);
    for (unsigned i = 0; i < metricsGet->numMetrics; i++) {
        nvmlGpmMetric_t *m = &metricsGet->metrics[i];
        double value = 0;
        m->nvmlReturn = gpm_value(s1->gpu, s1->gi, m->metricId, s2->t, &value) ? NVML_SUCCESS
                                                                                : NVML_ERROR_NOT_SUPPORTED;
        m->value = value;
        m->metricInfo = (nvmlGpmMetricMetricInfo_t){ NULL, NULL, NULL }; /* allowed by nvml.h */
    }
    return end(NVML_SUCCESS);
}

/* ---- Test-only exports ---- */

int fake_nvml_load_script(const char *path)
{
    pthread_mutex_lock(&mu);
    int rc = path ? load_script(path) : -1;
    signal_changed();
    pthread_mutex_unlock(&mu);
    return rc;
}

unsigned long long fake_nvml_call_count(const char *function)
{
    int fn = function ? function_index(function) : -1;
    pthread_mutex_lock(&mu);
    u64 n = fn < 0 ? 0 : calls[fn];
    pthread_mutex_unlock(&mu);
    return n;
}
