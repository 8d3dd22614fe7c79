using System.Buffers;
using System.Buffers.Binary;

namespace Gputel.Collector.Nvml;

/// <summary>
/// A GPU (or MIG instance) handle. Each query is a thin pass-through returning the NVML code, so
/// the caller decides what "not supported" means; nothing here throws for a device fault.
/// </summary>
public readonly unsafe struct NvmlDevice(IntPtr handle) : IEquatable<NvmlDevice>
{
    /// <summary>The raw <c>nvmlDevice_t</c>.</summary>
    public IntPtr Handle { get; } = handle;

    /// <summary><c>nvmlDeviceGetName</c>.</summary>
    public NvmlReturn TryGetName(out string name) => TryString(out name, static (h, b, l) => Interop.Nvml.nvmlDeviceGetName(h, b, l));

    /// <summary><c>nvmlDeviceGetUUID</c>.</summary>
    public NvmlReturn TryGetUuid(out string uuid) => TryString(out uuid, static (h, b, l) => Interop.Nvml.nvmlDeviceGetUUID(h, b, l));

    /// <summary><c>nvmlDeviceGetPciInfo_v3</c>: the bus id in <c>domain:bus:device.function</c> form.</summary>
    public NvmlReturn TryGetPciBusId(out string busId)
    {
        NvmlPciInfo info;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetPciInfo_v3(Handle, &info);
        busId = rc == NvmlReturn.Success ? NvmlDriver.DecodeCString(info.BusId, 32) : string.Empty;
        return rc;
    }

    /// <summary><c>nvmlDeviceGetMinorNumber</c>: N in <c>/dev/nvidiaN</c>.</summary>
    public NvmlReturn TryGetMinorNumber(out uint minor)
    {
        uint value = 0;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetMinorNumber(Handle, &value);
        minor = value;
        return rc;
    }

    /// <summary>
    /// Total, reserved, free and used bytes: <c>nvmlDeviceGetMemoryInfo_v2</c>, or on drivers before
    /// R510 (no v2, or a v2 that refuses the struct version) the v1 query, which has no reserved figure.
    /// </summary>
    public NvmlReturn TryGetMemory(out MemoryInfo memory)
    {
        NvmlMemoryV2 info = default;
        info.Version = NvmlMemoryV2.Version2;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetMemoryInfo_v2(Handle, &info);
        if (rc is NvmlReturn.FunctionNotFound or NvmlReturn.ArgumentVersionMismatch)
        {
            NvmlMemoryV1 v1 = default;
            rc = Interop.Nvml.nvmlDeviceGetMemoryInfo(Handle, &v1);
            memory = new MemoryInfo(v1.Total, null, v1.Free, v1.Used);
            return rc;
        }

        memory = new MemoryInfo(info.Total, info.Reserved, info.Free, info.Used);
        return rc;
    }

    /// <summary><c>nvmlDeviceGetUtilizationRates</c>: percent busy of the GPU and of its memory.</summary>
    public NvmlReturn TryGetUtilization(out uint gpuPercent, out uint memoryPercent)
    {
        NvmlUtilization u;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetUtilizationRates(Handle, &u);
        gpuPercent = u.Gpu;
        memoryPercent = u.Memory;
        return rc;
    }

    /// <summary><c>nvmlDeviceGetPowerUsage</c> in milliwatts.</summary>
    public NvmlReturn TryGetPowerUsage(out uint milliwatts)
    {
        uint v = 0;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetPowerUsage(Handle, &v);
        milliwatts = v;
        return rc;
    }

    /// <summary><c>nvmlDeviceGetEnforcedPowerLimit</c> in milliwatts.</summary>
    public NvmlReturn TryGetPowerLimit(out uint milliwatts)
    {
        uint v = 0;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetEnforcedPowerLimit(Handle, &v);
        milliwatts = v;
        return rc;
    }

    /// <summary><c>nvmlDeviceGetTotalEnergyConsumption</c> in millijoules since the driver loaded.</summary>
    public NvmlReturn TryGetTotalEnergy(out ulong millijoules)
    {
        ulong v = 0;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetTotalEnergyConsumption(Handle, &v);
        millijoules = v;
        return rc;
    }

    /// <summary><c>nvmlDeviceGetTemperature</c> of the GPU die, in degrees Celsius.</summary>
    public NvmlReturn TryGetTemperature(out uint celsius)
    {
        uint v = 0;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetTemperature(Handle, NvmlConstants.TemperatureGpu, &v);
        celsius = v;
        return rc;
    }

    /// <summary><c>nvmlDeviceGetClockInfo</c> in MHz.</summary>
    public NvmlReturn TryGetClock(ClockType clock, out uint megahertz)
    {
        uint v = 0;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetClockInfo(Handle, (uint)clock, &v);
        megahertz = v;
        return rc;
    }

    /// <summary>
    /// The current clock event (throttle) reason mask. Uses <c>nvmlDeviceGetCurrentClocksEventReasons</c>
    /// and falls back to the older <c>...ThrottleReasons</c> on drivers before it existed.
    /// </summary>
    public NvmlReturn TryGetThrottleReasons(out ulong mask)
    {
        ulong v = 0;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetCurrentClocksEventReasons(Handle, &v);
        if (rc == NvmlReturn.FunctionNotFound)
        {
            // Drivers before R535 have only the older name; the bits mean the same.
            rc = Interop.Nvml.nvmlDeviceGetCurrentClocksThrottleReasons(Handle, &v);
        }

        mask = v;
        return rc;
    }

    /// <summary><c>nvmlDeviceGetPcieThroughput</c> in KB/s over NVML's last 20 ms window.</summary>
    public NvmlReturn TryGetPcieThroughput(bool transmit, out uint kilobytesPerSecond)
    {
        uint v = 0;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetPcieThroughput(Handle, transmit ? NvmlConstants.PcieTx : NvmlConstants.PcieRx, &v);
        kilobytesPerSecond = v;
        return rc;
    }

    /// <summary><c>nvmlDeviceGetTotalEccErrors</c>.</summary>
    public NvmlReturn TryGetEccErrors(bool corrected, bool aggregate, out ulong count)
    {
        ulong v = 0;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetTotalEccErrors(
            Handle,
            corrected ? NvmlConstants.EccCorrected : NvmlConstants.EccUncorrected,
            aggregate ? NvmlConstants.EccAggregate : NvmlConstants.EccVolatile,
            &v);
        count = v;
        return rc;
    }

    /// <summary>
    /// Running compute or graphics processes: <c>..._v3</c>, else <c>..._v2</c>, else the first
    /// version (no MIG instance ids), whichever the driver has, each read with its own record size
    /// (<see cref="NvmlProcessLayout"/>). Grows the buffer and retries when NVML reports more
    /// processes than fit, since processes come and go between calls.
    /// </summary>
    public NvmlReturn TryGetProcesses(bool graphics, List<GpuProcessInfo> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        NvmlReturn rc = NvmlReturn.FunctionNotFound;
        for (int version = 3; version >= 1 && rc == NvmlReturn.FunctionNotFound; version--)
        {
            rc = TryGetProcesses(graphics, version, into);
        }

        return rc;
    }

    private NvmlReturn TryGetProcesses(bool graphics, int version, List<GpuProcessInfo> into)
    {
        int stride = NvmlProcessLayout.Size(version);
        int capacity = 64;
        for (int attempt = 0; attempt < 4; attempt++)
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(capacity * stride);
            try
            {
                uint count = (uint)(buffer.Length / stride);
                uint room = count;
                NvmlReturn rc;
                fixed (byte* infos = buffer)
                {
                    rc = Interop.Nvml.RunningProcesses(graphics, version, Handle, &count, infos);
                }

                if (rc == NvmlReturn.InsufficientSize && count > room && count <= 65536)
                {
                    capacity = (int)count + 16;
                    continue;
                }

                if (rc == NvmlReturn.Success)
                {
                    ReadOnlySpan<byte> records = buffer;
                    for (int i = 0; i < Math.Min(count, room); i++)
                    {
                        ReadOnlySpan<byte> r = records.Slice(i * stride, stride);
                        ulong used = BinaryPrimitives.ReadUInt64LittleEndian(r[NvmlProcessLayout.UsedOffset..]);
                        uint gi = version >= 2 ? BinaryPrimitives.ReadUInt32LittleEndian(r[NvmlProcessLayout.GpuInstanceOffset..]) : NvmlConstants.NoInstance;
                        uint ci = version >= 2 ? BinaryPrimitives.ReadUInt32LittleEndian(r[NvmlProcessLayout.ComputeInstanceOffset..]) : NvmlConstants.NoInstance;
                        into.Add(new GpuProcessInfo(
                            (int)BinaryPrimitives.ReadUInt32LittleEndian(r[NvmlProcessLayout.PidOffset..]),
                            used == NvmlConstants.ValueNotAvailable ? null : used,
                            gi == NvmlConstants.NoInstance ? null : gi,
                            ci == NvmlConstants.NoInstance ? null : ci,
                            graphics));
                    }
                }

                return rc;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        return NvmlReturn.InsufficientSize;
    }

    /// <summary><c>nvmlDeviceGetEncoderUtilization</c> or <c>...DecoderUtilization</c>, in percent.</summary>
    public NvmlReturn TryGetCodecUtilization(bool encoder, out uint percent)
    {
        uint v = 0, period = 0;
        NvmlReturn rc = encoder
            ? Interop.Nvml.nvmlDeviceGetEncoderUtilization(Handle, &v, &period)
            : Interop.Nvml.nvmlDeviceGetDecoderUtilization(Handle, &v, &period);
        percent = v;
        return rc;
    }

    /// <summary><c>nvmlDeviceGetPcieReplayCounter</c>: PCIe retries since the driver loaded.</summary>
    public NvmlReturn TryGetPcieReplayCounter(out uint replays)
    {
        uint v = 0;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetPcieReplayCounter(Handle, &v);
        replays = v;
        return rc;
    }

    /// <summary><c>nvmlDeviceGetRemappedRows</c> (Ampere and newer).</summary>
    public NvmlReturn TryGetRemappedRows(out RemappedRows rows)
    {
        uint corrected = 0, uncorrected = 0, pending = 0, failed = 0;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetRemappedRows(Handle, &corrected, &uncorrected, &pending, &failed);
        rows = new RemappedRows(corrected, uncorrected, pending != 0, failed != 0);
        return rc;
    }

    /// <summary>
    /// <c>nvmlDeviceGetFieldValues</c> for one field: its value as a double, or the field's own
    /// return code (NVML answers per field; the call as a whole may succeed with some unsupported).
    /// </summary>
    public NvmlReturn TryGetField(uint fieldId, uint scopeId, out double value)
    {
        NvmlFieldValue field = default;
        field.FieldId = fieldId;
        field.ScopeId = scopeId;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetFieldValues(Handle, 1, &field);
        value = 0;
        if (rc != NvmlReturn.Success)
        {
            return rc;
        }

        if (field.Return == NvmlReturn.Success)
        {
            ulong raw = field.Value;
            value = field.ValueType switch
            {
                0 => BitConverter.UInt64BitsToDouble(raw),
                1 => (uint)raw,
                2 or 3 => raw,
                4 => (long)raw,
                5 => (int)(uint)raw,
                6 => (ushort)raw,
                _ => double.NaN,
            };
        }

        return field.Return;
    }

    /// <summary><c>nvmlGpmQueryDeviceSupport</c>: whether the GPU Performance Monitoring API works here (Hopper and newer).</summary>
    public NvmlReturn TryGetGpmSupport(out bool supported)
    {
        NvmlGpmSupport support = default;
        support.Version = NvmlGpmSupport.Version1;
        NvmlReturn rc = Interop.Nvml.nvmlGpmQueryDeviceSupport(Handle, &support);

        supported = rc == NvmlReturn.Success && support.IsSupportedDevice != 0;
        return rc;
    }

    /// <summary>Takes a GPM sample of this GPU, or of one of its MIG GPU instances.</summary>
    public NvmlReturn TryGpmSample(NvmlGpmSample sample, uint? gpuInstance)
    {
        ArgumentNullException.ThrowIfNull(sample);
        IntPtr s = sample.DangerousGetHandle();
        return gpuInstance is { } gi
            ? Interop.Nvml.nvmlGpmMigSampleGet(Handle, gi, s)
            : Interop.Nvml.nvmlGpmSampleGet(Handle, s);
    }

    /// <summary><c>nvmlDeviceGetMigMode</c>: true when MIG is currently enabled.</summary>
    public NvmlReturn TryGetMigMode(out bool enabled)
    {
        uint current = 0, pending = 0;
        NvmlReturn rc = Interop.Nvml.nvmlDeviceGetMigMode(Handle, &current, &pending);
        enabled = rc == NvmlReturn.Success && current == 1;
        return rc;
    }

    /// <summary>The MIG devices of this GPU (empty when MIG is off or unsupported).</summary>
    public IReadOnlyList<(NvmlDevice Device, uint GpuInstance, uint ComputeInstance)> GetMigDevices()
    {
        var result = new List<(NvmlDevice, uint, uint)>();
        if (TryGetMigMode(out bool enabled) != NvmlReturn.Success || !enabled)
        {
            return result;
        }

        uint max = 0;
        if (Interop.Nvml.nvmlDeviceGetMaxMigDeviceCount(Handle, &max) != NvmlReturn.Success)
        {
            return result;
        }

        for (uint i = 0; i < max; i++)
        {
            IntPtr mig;
            if (Interop.Nvml.nvmlDeviceGetMigDeviceHandleByIndex(Handle, i, &mig) != NvmlReturn.Success)
            {
                continue;
            }

            uint gi = 0, ci = 0;
            Interop.Nvml.nvmlDeviceGetGpuInstanceId(mig, &gi);
            Interop.Nvml.nvmlDeviceGetComputeInstanceId(mig, &ci);
            result.Add((new NvmlDevice(mig), gi, ci));
        }

        return result;
    }

    /// <inheritdoc />
    public bool Equals(NvmlDevice other) => Handle == other.Handle;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is NvmlDevice other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => Handle.GetHashCode();

    /// <summary>Handle equality.</summary>
    public static bool operator ==(NvmlDevice left, NvmlDevice right) => left.Equals(right);

    /// <summary>Handle inequality.</summary>
    public static bool operator !=(NvmlDevice left, NvmlDevice right) => !left.Equals(right);

    private delegate NvmlReturn DeviceStringQuery(IntPtr handle, byte* buffer, uint length);

    private NvmlReturn TryString(out string value, DeviceStringQuery query)
    {
        const int Size = 96;
        byte* buffer = stackalloc byte[Size];
        buffer[0] = 0;
        NvmlReturn rc = query(Handle, buffer, Size);
        value = rc == NvmlReturn.Success ? NvmlDriver.DecodeCString(buffer, Size) : string.Empty;
        return rc;
    }
}

/// <summary>NVML clock domains (<c>nvmlClockType_t</c>).</summary>
public enum ClockType
{
    /// <summary>Graphics clock.</summary>
    Graphics = 0,
    /// <summary>Streaming multiprocessor clock.</summary>
    Sm = 1,
    /// <summary>Memory clock.</summary>
    Memory = 2,
    /// <summary>Video encoder/decoder clock.</summary>
    Video = 3,
}

/// <summary>Device memory in bytes, as <c>nvmlMemory_v2_t</c> reports it.</summary>
/// <param name="Total">Memory on the board.</param>
/// <param name="Reserved">Memory the driver and firmware keep, or null where the driver has only the v1 query (before R510), which does not tell it.</param>
/// <param name="Free">Memory not allocated.</param>
/// <param name="Used">Memory allocated by processes (on v1 drivers this includes the reserved part).</param>
public readonly record struct MemoryInfo(ulong Total, ulong? Reserved, ulong Free, ulong Used);

/// <summary>DRAM rows remapped by the row remapper (Ampere and newer).</summary>
/// <param name="Corrected">Rows remapped after correctable errors.</param>
/// <param name="Uncorrected">Rows remapped after uncorrectable errors.</param>
/// <param name="Pending">A remapping waits for the next GPU reset.</param>
/// <param name="Failed">A remapping has failed.</param>
public readonly record struct RemappedRows(uint Corrected, uint Uncorrected, bool Pending, bool Failed);

/// <summary>One process using a GPU, as NVML reports it.</summary>
/// <param name="Pid">Process id in the host's PID namespace.</param>
/// <param name="UsedBytes">GPU memory used, or null where the driver cannot tell (WDDM).</param>
/// <param name="GpuInstance">MIG GPU instance id, or null without MIG.</param>
/// <param name="ComputeInstance">MIG compute instance id, or null without MIG.</param>
/// <param name="Graphics">True for a graphics context, false for compute.</param>
public readonly record struct GpuProcessInfo(int Pid, ulong? UsedBytes, uint? GpuInstance, uint? ComputeInstance, bool Graphics);
