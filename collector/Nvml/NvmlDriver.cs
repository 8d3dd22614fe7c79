using System.Text;

namespace Gputel.Collector.Nvml;

/// <summary>
/// An initialised NVML session: the library is loaded and <c>nvmlInit_v2</c> succeeded.
/// Disposing calls <c>nvmlShutdown</c> (NVML reference-counts init, so sessions may overlap).
/// </summary>
public sealed unsafe class NvmlDriver : IDisposable
{
    private int _disposed;

    private NvmlDriver(string libraryPath)
    {
        LibraryPath = libraryPath;
        DriverVersion = ReadString(static (buffer, length) => Interop.Nvml.nvmlSystemGetDriverVersion(buffer, length)) ?? "unknown";
        NvmlVersion = ReadString(static (buffer, length) => Interop.Nvml.nvmlSystemGetNVMLVersion(buffer, length)) ?? "unknown";
        NvmlProcessLayout.UseDriver(DriverVersion);
    }

    /// <summary>Where the NVML library was loaded from.</summary>
    public string LibraryPath { get; }

    /// <summary>The kernel driver version, e.g. <c>560.35.03</c>.</summary>
    public string DriverVersion { get; }

    /// <summary>The NVML library version, e.g. <c>12.560.35.03</c>.</summary>
    public string NvmlVersion { get; }

    /// <summary>
    /// NVML functions the agent can use that this driver lacks (an older or newer branch than the
    /// header), less older versions it need not fall back to. Each answers FUNCTION_NOT_FOUND,
    /// which drops only the series it serves.
    /// </summary>
    public IReadOnlyList<string> MissingFunctions { get; } = Interop.Nvml.MissingEntryPoints();

    /// <summary>
    /// Loads NVML (from <paramref name="libraryPath"/> or the system default) and initialises it.
    /// Throws <see cref="NvmlUnavailableException"/> with a one-line reason when there is no usable driver.
    /// </summary>
    public static NvmlDriver Open(string? libraryPath = null)
    {
        if (!NvmlLibrary.TryLoad(libraryPath, out string? error))
        {
            throw new NvmlUnavailableException(error!);
        }

        NvmlReturn rc = Interop.Nvml.nvmlInit_v2();
        if (rc == NvmlReturn.FunctionNotFound)
        {
            throw new NvmlUnavailableException($"'{NvmlLibrary.LoadedFrom}' is not an NVML library (no nvmlInit_v2)");
        }

        if (rc != NvmlReturn.Success)
        {
            throw new NvmlUnavailableException($"NVML initialisation failed: {NvmlErrors.Describe(rc)} ({(int)rc})");
        }

        return new NvmlDriver(NvmlLibrary.LoadedFrom!);
    }

    /// <summary>Number of GPUs NVML reports (MIG instances are not counted here).</summary>
    public int GetDeviceCount()
    {
        uint count;
        NvmlErrors.ThrowIfError(Interop.Nvml.nvmlDeviceGetCount_v2(&count), "nvmlDeviceGetCount_v2");
        return (int)count;
    }

    /// <summary>The handle of GPU <paramref name="index"/>.</summary>
    public NvmlDevice GetDevice(int index)
    {
        IntPtr handle;
        NvmlErrors.ThrowIfError(Interop.Nvml.nvmlDeviceGetHandleByIndex_v2((uint)index, &handle), "nvmlDeviceGetHandleByIndex_v2");
        return new NvmlDevice(handle);
    }

    /// <summary>The process name NVML knows for <paramref name="pid"/>, or null.</summary>
    public static string? GetProcessName(int pid) =>
        ReadString((buffer, length) => Interop.Nvml.nvmlSystemGetProcessName((uint)pid, buffer, length));

    /// <summary>Creates an event set for Xid events on the given devices (those that support them).</summary>
    public NvmlEventSet CreateXidEventSet(IEnumerable<NvmlDevice> devices)
    {
        ArgumentNullException.ThrowIfNull(devices);
        IntPtr set;
        NvmlErrors.ThrowIfError(Interop.Nvml.nvmlEventSetCreate(&set), "nvmlEventSetCreate");
        var eventSet = new NvmlEventSet(set);
        foreach (NvmlDevice device in devices)
        {
            eventSet.TryRegisterXid(device);
        }

        return eventSet;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Interop.Nvml.nvmlShutdown();
        }
    }

    internal delegate NvmlReturn StringQuery(byte* buffer, uint length);

    /// <summary>Calls an NVML string query with a stack buffer; null when the call fails.</summary>
    internal static string? ReadString(StringQuery query)
    {
        const int Size = 256;
        byte* buffer = stackalloc byte[Size];
        buffer[0] = 0;
        NvmlReturn rc = query(buffer, Size);
        return rc == NvmlReturn.Success ? DecodeCString(buffer, Size) : null;
    }

    internal static string DecodeCString(byte* buffer, int capacity)
    {
        var span = new ReadOnlySpan<byte>(buffer, capacity);
        int end = span.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
    }
}

/// <summary>NVML cannot be used on this machine; the message says why in one line.</summary>
public sealed class NvmlUnavailableException(string message) : Exception(message);
