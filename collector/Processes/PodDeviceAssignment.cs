namespace Gputel.Collector.Processes;

/// <summary>One device the kubelet assigned to one container of a pod.</summary>
/// <param name="Pod">Pod name.</param>
/// <param name="Namespace">Pod namespace.</param>
/// <param name="Container">Container name.</param>
/// <param name="ResourceName">The extended resource, e.g. <c>nvidia.com/gpu</c>.</param>
/// <param name="DeviceId">The device plugin's id: a GPU or MIG UUID, <c>UUID::N</c> for a time-sliced replica, or an index.</param>
public sealed record PodDeviceAssignment(string Pod, string Namespace, string Container, string ResourceName, string DeviceId);
