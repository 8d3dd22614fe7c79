using System.Diagnostics.CodeAnalysis;

namespace Gputel.Collector.Nvml;

/// <summary>An NVML call returned an error code.</summary>
public sealed class NvmlException : Exception
{
    /// <summary>Creates the exception for <paramref name="code"/> returned by <paramref name="function"/>.</summary>
    public NvmlException(NvmlReturn code, string function)
        : base($"{function} failed: {NvmlErrors.Describe(code)} ({(int)code})")
    {
        Code = code;
        Function = function;
    }

    /// <summary>The NVML return code.</summary>
    public NvmlReturn Code { get; }

    /// <summary>The NVML function that failed.</summary>
    public string Function { get; }

    /// <summary>True when the device has fallen off the bus and must be treated as down.</summary>
    public bool IsDeviceLost => MeansDeviceLost(Code);

    /// <summary>True when <paramref name="code"/> says the device has fallen off the bus (see <see cref="IsDeviceLost"/>).</summary>
    public static bool MeansDeviceLost(NvmlReturn code) => code is NvmlReturn.GpuIsLost or NvmlReturn.ResetRequired;

    /// <summary>Not an error, only "this device has no such data".</summary>
    public bool IsNoData => Code is NvmlReturn.NotSupported or NvmlReturn.FunctionNotFound or NvmlReturn.NoData;
}

/// <summary>The one place where NVML return codes become .NET exceptions.</summary>
public static class NvmlErrors
{
    /// <summary>Throws <see cref="NvmlException"/> unless <paramref name="code"/> is success.</summary>
    public static void ThrowIfError(NvmlReturn code, string function)
    {
        if (code != NvmlReturn.Success)
        {
            Throw(code, function);
        }
    }

    [DoesNotReturn]
    private static void Throw(NvmlReturn code, string function) => throw new NvmlException(code, function);

    /// <summary>A short English description of a return code (independent of the loaded library).</summary>
    public static string Describe(NvmlReturn code) => code switch
    {
        NvmlReturn.Success => "success",
        NvmlReturn.Uninitialized => "NVML not initialised",
        NvmlReturn.InvalidArgument => "invalid argument",
        NvmlReturn.NotSupported => "not supported",
        NvmlReturn.NoPermission => "insufficient permissions",
        NvmlReturn.NotFound => "not found",
        NvmlReturn.InsufficientSize => "insufficient size",
        NvmlReturn.DriverNotLoaded => "NVIDIA driver is not loaded",
        NvmlReturn.Timeout => "timeout",
        NvmlReturn.LibraryNotFound => "NVML shared library not found",
        NvmlReturn.FunctionNotFound => "function not found in the loaded NVML",
        NvmlReturn.GpuIsLost => "GPU is lost",
        NvmlReturn.ResetRequired => "GPU requires reset",
        NvmlReturn.LibRmVersionMismatch => "driver/library version mismatch",
        NvmlReturn.NoData => "no data",
        NvmlReturn.ArgumentVersionMismatch => "structure version mismatch",
        NvmlReturn.GpuNotFound => "no GPUs found",
        NvmlReturn.Unknown => "unknown error",
        _ => code.ToString(),
    };
}
