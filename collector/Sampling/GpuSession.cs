using Gputel.Collector.Model;
using Gputel.Collector.Nvml;

namespace Gputel.Collector.Sampling;

/// <summary>
/// NVML opened and the GPUs discovered once at start-up. When there is no usable driver the
/// session is still created, with no devices and a one-line <see cref="UnavailableReason"/>, so
/// the agent keeps serving host and self metrics instead of exiting.
/// </summary>
public sealed class GpuSession : IDisposable
{
    private GpuSession(NvmlDriver? driver, IReadOnlyList<GpuDevice> devices, string? unavailableReason, IReadOnlyList<string> warnings)
    {
        Driver = driver;
        Devices = devices;
        UnavailableReason = unavailableReason;
        Warnings = warnings;
    }

    /// <summary>The open NVML session, or null without a driver.</summary>
    public NvmlDriver? Driver { get; }

    /// <summary>The GPUs found, in NVML index order.</summary>
    public IReadOnlyList<GpuDevice> Devices { get; }

    /// <summary>Why NVML cannot be used, or null when it can.</summary>
    public string? UnavailableReason { get; }

    /// <summary>Start-up remarks, one line each: devices that could not be opened, NVML functions the driver lacks.</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>The driver version, or empty without a driver.</summary>
    public string DriverVersion => Driver?.DriverVersion ?? string.Empty;

    /// <summary>Opens NVML from <paramref name="libraryPath"/> (or the system default) and lists the GPUs.</summary>
    public static GpuSession Open(string? libraryPath)
    {
        NvmlDriver driver;
        try
        {
            driver = NvmlDriver.Open(libraryPath);
        }
        catch (NvmlUnavailableException e)
        {
            return new GpuSession(null, [], e.Message, []);
        }

        var warnings = new List<string>();
        if (driver.MissingFunctions.Count > 0)
        {
            warnings.Add($"NVIDIA driver {driver.DriverVersion} lacks {driver.MissingFunctions.Count} NVML function(s) the agent can use "
                + $"({string.Join(", ", driver.MissingFunctions)}): older ones are used where they exist, else only the series they serve are left out");
        }

        var devices = new List<GpuDevice>();
        int count;
        try
        {
            count = driver.GetDeviceCount();
        }
        catch (NvmlException e)
        {
            driver.Dispose();
            return new GpuSession(null, [], $"NVML could not count the GPUs: {e.Message}", []);
        }

        for (int i = 0; i < count; i++)
        {
            try
            {
                devices.Add(Describe(driver.GetDevice(i), i) with { Slot = devices.Count });
            }
            catch (NvmlException e)
            {
                warnings.Add($"GPU {i} skipped: {e.Message}");
            }
        }

        return new GpuSession(driver, devices, null, warnings);
    }

    private static GpuDevice Describe(NvmlDevice handle, int index)
    {
        // Identity fields that a device does not support become "unknown" rather than dropping the GPU.
        handle.TryGetUuid(out string uuid);
        handle.TryGetName(out string name);
        handle.TryGetPciBusId(out string busId);
        uint? minor = handle.TryGetMinorNumber(out uint m) == NvmlReturn.Success ? m : null;
        return new GpuDevice(index, handle, Or(uuid), Or(name), Or(busId), minor)
        {
            MigInstances = handle.GetMigDevices().Select(x => new MigInstance(x.Device, x.GpuInstance, x.ComputeInstance)).ToArray(),
        };

        static string Or(string value) => string.IsNullOrEmpty(value) ? "unknown" : value;
    }

    /// <inheritdoc />
    public void Dispose() => Driver?.Dispose();
}
