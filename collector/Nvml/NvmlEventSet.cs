namespace Gputel.Collector.Nvml;

/// <summary>An NVML event set registered for Xid critical errors; freed on dispose.</summary>
public sealed unsafe class NvmlEventSet : IDisposable
{
    private IntPtr _set;

    internal NvmlEventSet(IntPtr set) => _set = set;

    /// <summary>Devices whose Xid events this set receives.</summary>
    public List<NvmlDevice> Registered { get; } = [];

    internal void TryRegisterXid(NvmlDevice device)
    {
        ulong supported = 0;
        if (Interop.Nvml.nvmlDeviceGetSupportedEventTypes(device.Handle, &supported) != NvmlReturn.Success
            || (supported & NvmlConstants.EventTypeXidCriticalError) == 0)
        {
            return;
        }

        if (Interop.Nvml.nvmlDeviceRegisterEvents(device.Handle, NvmlConstants.EventTypeXidCriticalError, _set) == NvmlReturn.Success)
        {
            Registered.Add(device);
        }
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMilliseconds"/> for one event. Returns
    /// <see cref="NvmlReturn.Timeout"/> when none came; on success, the device and the Xid code.
    /// </summary>
    public NvmlReturn Wait(uint timeoutMilliseconds, out NvmlDevice device, out ulong xid)
    {
        ObjectDisposedException.ThrowIf(_set == IntPtr.Zero, this);
        NvmlEventData data = default;
        NvmlReturn rc = Interop.Nvml.nvmlEventSetWait_v2(_set, &data, timeoutMilliseconds);
        device = new NvmlDevice(data.Device);
        xid = data.EventData;
        return rc;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        IntPtr set = Interlocked.Exchange(ref _set, IntPtr.Zero);
        if (set != IntPtr.Zero)
        {
            Interop.Nvml.nvmlEventSetFree(set);
        }
    }
}
