using Gputel.Collector.Nvml;

namespace Gputel.Collector.Model;

/// <summary>
/// A GPU found at start-up, with the identity that labels every series: what does not change
/// while the agent runs is read once.
/// </summary>
/// <param name="Index">NVML index, the <c>gpu</c> label.</param>
/// <param name="Handle">The NVML handle.</param>
/// <param name="Uuid">The GPU UUID (<c>GPU-...</c>).</param>
/// <param name="Name">The product name, the <c>model</c> label.</param>
/// <param name="PciBusId">PCI bus id in <c>domain:bus:device.function</c> form.</param>
/// <param name="Minor">N in <c>/dev/nvidiaN</c>, or null when unknown.</param>
public sealed record GpuDevice(int Index, NvmlDevice Handle, string Uuid, string Name, string PciBusId, uint? Minor)
{
    /// <summary>
    /// Position of this GPU in the session's device list, which indexes the store. It differs from
    /// <see cref="Index"/> when a GPU could not be opened at start-up.
    /// </summary>
    public int Slot { get; init; }

    /// <summary>MIG instances of this GPU at start-up (empty when MIG is off).</summary>
    public IReadOnlyList<MigInstance> MigInstances { get; init; } = [];

    /// <summary>The device node name dcgm-exporter uses as its <c>device</c> label (<c>nvidia0</c>).</summary>
    public string DeviceNode => $"nvidia{Minor ?? (uint)Index}";
}

/// <summary>A MIG device: a slice of a GPU with its own memory.</summary>
/// <param name="Handle">The MIG device handle.</param>
/// <param name="GpuInstance">GPU instance id.</param>
/// <param name="ComputeInstance">Compute instance id.</param>
public sealed record MigInstance(NvmlDevice Handle, uint GpuInstance, uint ComputeInstance)
{
    /// <summary>The <c>mig_instance</c> label value: <c>GI/CI</c>.</summary>
    public string Label => $"{GpuInstance}/{ComputeInstance}";
}
