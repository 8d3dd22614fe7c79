using System.Globalization;
using Gputel.Collector.Model;

namespace Gputel.Collector.Processes;

/// <summary>
/// Names the pod a GPU process belongs to from the kubelet's device assignments. The kubelet does
/// not tell pod UIDs or container ids, so the join is by GPU: the pod whose container was given the
/// GPU the process runs on. Where several pods share a GPU (time-slicing), the process's
/// <c>HOSTNAME</c> (the pod name unless the pod overrides it) picks among them; otherwise the name
/// is left unknown rather than guessed.
/// </summary>
public sealed class PodDirectory
{
    private readonly Func<CancellationToken, Task<IReadOnlyList<PodDeviceAssignment>>> _list;
    private readonly TimeSpan _maxAge;
    private readonly Lock _gate = new();
    private IReadOnlyList<PodDeviceAssignment> _assignments = [];
    private long _fetchedAt = long.MinValue;

    /// <summary>Creates a directory over <paramref name="list"/> (e.g. <see cref="PodResourcesClient.ListAsync"/>).</summary>
    /// <param name="list">Fetches every assignment on the node.</param>
    /// <param name="maxAge">
    /// How long a fetched list is trusted. A GPU freed by one pod and given to the next would be
    /// named after the old pod from a stale list, so lookups (made once per new process) refetch after this.
    /// </param>
    public PodDirectory(Func<CancellationToken, Task<IReadOnlyList<PodDeviceAssignment>>> list, TimeSpan maxAge)
    {
        ArgumentNullException.ThrowIfNull(list);
        _list = list;
        _maxAge = maxAge;
    }

    /// <summary>Why the last fetch failed, or null after a good one; for a one-time log line.</summary>
    public string? Failure { get; private set; }

    /// <summary>The container given <paramref name="gpu"/>, or null when none or more than one could be.</summary>
    /// <param name="gpu">The GPU the process runs on.</param>
    /// <param name="hostname">Reads the process's <c>HOSTNAME</c> (null when unknown), asked only to choose among pods sharing the GPU.</param>
    public PodDeviceAssignment? Find(GpuDevice gpu, Func<string?> hostname)
    {
        ArgumentNullException.ThrowIfNull(gpu);
        ArgumentNullException.ThrowIfNull(hostname);
        IReadOnlyList<PodDeviceAssignment> assignments = Current();
        string index = gpu.Index.ToString(CultureInfo.InvariantCulture);
        List<PodDeviceAssignment> candidates = assignments
            .Where(a => Matches(a, gpu.Uuid, index))
            .DistinctBy(a => (a.Namespace, a.Pod))
            .ToList();
        return candidates.Count switch
        {
            1 => candidates[0],
            > 1 => hostname() is { } name && candidates.Where(c => c.Pod == name).Take(2).ToList() is [var only] ? only : null,
            _ => null,
        };
    }

    // NVIDIA's device plugin names GPUs by UUID, time-sliced replicas as UUID::N, or by index
    // (DEVICE_ID_STRATEGY=index); an index is only trusted for NVIDIA's resources.
    private static bool Matches(PodDeviceAssignment a, string uuid, string index) =>
        a.DeviceId == uuid
        || (a.DeviceId.StartsWith(uuid, StringComparison.Ordinal) && a.DeviceId.AsSpan(uuid.Length).StartsWith("::", StringComparison.Ordinal))
        || (a.DeviceId == index && a.ResourceName.StartsWith("nvidia.com/", StringComparison.Ordinal));

    private IReadOnlyList<PodDeviceAssignment> Current()
    {
        lock (_gate)
        {
            long now = Environment.TickCount64;
            if (_fetchedAt != long.MinValue && now - _fetchedAt < _maxAge.TotalMilliseconds)
            {
                return _assignments;
            }

            try
            {
                // Called on a sampler thread, which may block; the client's timeout bounds the wait.
                _assignments = _list(CancellationToken.None).GetAwaiter().GetResult();
                Failure = null;
            }
            catch (Exception e) when (e is HttpRequestException or InvalidDataException or IOException or TaskCanceledException or System.Net.Sockets.SocketException)
            {
                _assignments = [];
                Failure = $"kubelet pod-resources: {e.Message}";
            }

            _fetchedAt = now;
            return _assignments;
        }
    }
}
