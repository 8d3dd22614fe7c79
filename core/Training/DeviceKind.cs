namespace Gputel.Core.Training;

/// <summary>What kind of device a run computes on.</summary>
public enum DeviceKind
{
    /// <summary>The host's CPUs, measured through glibc's allocator.</summary>
    Cpu,
    /// <summary>A CUDA device, measured through its memory pool and NVML.</summary>
    Cuda,
}
