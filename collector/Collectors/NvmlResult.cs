using Gputel.Collector.Nvml;

namespace Gputel.Collector.Collectors;

/// <summary>How collectors read NVML return codes, decided in one place.</summary>
internal static class NvmlResult
{
    /// <summary>
    /// True when the value is valid. False when the device or driver simply has no such data
    /// (NOT_SUPPORTED, a function the driver lacks, and friends), and false with the failure
    /// recorded in <paramref name="output"/> for any other error: one reading failing leaves the
    /// collector's other readings standing. Throws <see cref="NvmlException"/> only for
    /// GPU_IS_LOST and RESET_REQUIRED, which the sampler turns into "device down".
    /// </summary>
    /// <param name="rc">The call's return code.</param>
    /// <param name="reading">What was read, as the log and the failure count name it (the NVML function, with its argument where one function serves several readings).</param>
    /// <param name="output">The run's output, which collects the failures.</param>
    public static bool Ok(NvmlReturn rc, string reading, CollectorOutput output)
    {
        if (rc == NvmlReturn.Success)
        {
            return true;
        }

        if (IsNoData(rc))
        {
            return false;
        }

        if (NvmlException.MeansDeviceLost(rc))
        {
            throw new NvmlException(rc, reading);
        }

        output.Failures.Add(new ReadingFailure(reading, rc));
        return false;
    }

    /// <summary>Whether <paramref name="rc"/> means "no such data here" rather than a failure.</summary>
    public static bool IsNoData(NvmlReturn rc) =>
        rc is NvmlReturn.NotSupported or NvmlReturn.FunctionNotFound or NvmlReturn.NoData or NvmlReturn.NoPermission;
}
