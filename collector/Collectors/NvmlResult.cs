using Gputel.Collector.Nvml;

namespace Gputel.Collector.Collectors;

/// <summary>How collectors read NVML return codes, decided in one place.</summary>
internal static class NvmlResult
{
    /// <summary>
    /// True when the value is valid; false when the device simply has no such data
    /// (NOT_SUPPORTED and friends); throws <see cref="NvmlException"/> for anything else,
    /// including GPU_IS_LOST, which the sampler turns into "device down".
    /// </summary>
    public static bool Ok(NvmlReturn rc, string function)
    {
        if (rc == NvmlReturn.Success)
        {
            return true;
        }

        if (rc is NvmlReturn.NotSupported or NvmlReturn.FunctionNotFound or NvmlReturn.NoData or NvmlReturn.NoPermission)
        {
            return false;
        }

        throw new NvmlException(rc, function);
    }
}
