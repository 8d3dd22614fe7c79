namespace Gputel.Collector.Nvml;

/// <summary>Return codes of NVML calls (<c>nvmlReturn_t</c>), values as in <c>nvml.h</c>.</summary>
public enum NvmlReturn
{
    /// <summary>The operation was successful.</summary>
    Success = 0,
    /// <summary>NVML was not initialised.</summary>
    Uninitialized = 1,
    /// <summary>A supplied argument is invalid.</summary>
    InvalidArgument = 2,
    /// <summary>The operation is not available on this device: "no data" for that field.</summary>
    NotSupported = 3,
    /// <summary>The caller lacks permission.</summary>
    NoPermission = 4,
    /// <summary>Deprecated: multiple initialisations are reference counted.</summary>
    AlreadyInitialized = 5,
    /// <summary>A query to find an object was unsuccessful.</summary>
    NotFound = 6,
    /// <summary>An input argument is not large enough.</summary>
    InsufficientSize = 7,
    /// <summary>External power cables are not attached.</summary>
    InsufficientPower = 8,
    /// <summary>The NVIDIA kernel driver is not loaded.</summary>
    DriverNotLoaded = 9,
    /// <summary>The provided timeout passed.</summary>
    Timeout = 10,
    /// <summary>The kernel detected an interrupt issue with a GPU.</summary>
    IrqIssue = 11,
    /// <summary>The NVML shared library could not be found or loaded.</summary>
    LibraryNotFound = 12,
    /// <summary>The loaded NVML does not implement this function.</summary>
    FunctionNotFound = 13,
    /// <summary>The infoROM is corrupted.</summary>
    CorruptedInforom = 14,
    /// <summary>The GPU has fallen off the bus or is otherwise inaccessible.</summary>
    GpuIsLost = 15,
    /// <summary>The GPU requires a reset.</summary>
    ResetRequired = 16,
    /// <summary>The GPU control device is blocked by the operating system or cgroups.</summary>
    OperatingSystem = 17,
    /// <summary>Driver and library versions do not match.</summary>
    LibRmVersionMismatch = 18,
    /// <summary>The GPU is in use.</summary>
    InUse = 19,
    /// <summary>Insufficient memory.</summary>
    Memory = 20,
    /// <summary>No data.</summary>
    NoData = 21,
    /// <summary>The vGPU operation is not available because ECC is enabled.</summary>
    VgpuEccNotSupported = 22,
    /// <summary>Ran out of critical resources other than memory.</summary>
    InsufficientResources = 23,
    /// <summary>The requested frequency is not supported.</summary>
    FreqNotSupported = 24,
    /// <summary>The structure version passed is not supported.</summary>
    ArgumentVersionMismatch = 25,
    /// <summary>The functionality is deprecated.</summary>
    Deprecated = 26,
    /// <summary>The system is not ready.</summary>
    NotReady = 27,
    /// <summary>No GPUs were found.</summary>
    GpuNotFound = 28,
    /// <summary>The resource is not in the right state.</summary>
    InvalidState = 29,
    /// <summary>An internal driver error occurred.</summary>
    Unknown = 999,
}
