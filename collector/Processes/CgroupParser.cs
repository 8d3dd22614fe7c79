using System.Text.RegularExpressions;

namespace Gputel.Collector.Processes;

/// <summary>
/// Finds the container a process runs in from the text of <c>/proc/&lt;pid&gt;/cgroup</c>.
/// Handles cgroup v1 (<c>12:memory:/docker/&lt;id&gt;</c>, <c>/kubepods/burstable/pod&lt;uid&gt;/&lt;id&gt;</c>)
/// and v2 (<c>0::/system.slice/docker-&lt;id&gt;.scope</c>, <c>cri-containerd-&lt;id&gt;.scope</c>,
/// <c>crio-&lt;id&gt;.scope</c>, <c>kubepods-pod&lt;uid&gt;.slice:cri-containerd:&lt;id&gt;</c>) path forms.
/// </summary>
public static partial class CgroupParser
{
    /// <summary>The container id (64 hex characters) and Kubernetes pod UID, each empty when absent.</summary>
    /// <param name="ContainerId">The container id.</param>
    /// <param name="PodUid">The pod UID, with dashes (systemd paths write them as underscores).</param>
    public readonly record struct CgroupIdentity(string ContainerId, string PodUid);

    /// <summary>Parses the whole file; the first line that names a container wins.</summary>
    public static CgroupIdentity Parse(string cgroupFile)
    {
        ArgumentNullException.ThrowIfNull(cgroupFile);
        foreach (string line in cgroupFile.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            // hierarchy-id:controllers:path; the path may itself contain ':' only in odd setups.
            int first = line.IndexOf(':', StringComparison.Ordinal);
            int second = first < 0 ? -1 : line.IndexOf(':', first + 1);
            string path = second < 0 ? line : line[(second + 1)..];

            MatchCollection ids = ContainerIdPattern().Matches(path);
            if (ids.Count == 0)
            {
                continue;
            }

            Match pod = PodUidPattern().Match(path);
            return new CgroupIdentity(
                ids[^1].Groups["id"].Value,
                pod.Success ? pod.Groups["uid"].Value.Replace('_', '-') : string.Empty);
        }

        return new CgroupIdentity(string.Empty, string.Empty);
    }

    // A 64-hex id as a whole path segment, after a runtime prefix (docker-, cri-containerd-, crio-,
    // libpod-) or after containerd's "slice:runtime:id" form (kind and other nested nodes).
    [GeneratedRegex(@"(?:^|[/\-:])(?<id>[0-9a-f]{64})(?:\.scope)?(?=/|$)")]
    private static partial Regex ContainerIdPattern();

    [GeneratedRegex(@"pod(?<uid>[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")]
    private static partial Regex PodUidPattern();
}
