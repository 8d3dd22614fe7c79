using Gputel.Collector.Collectors;
using Gputel.Collector.Model;
using Gputel.Collector.Processes;
using Gputel.Collector.Sampling;
using Gputel.Tests.Support;
using static Gputel.Tests.Support.Scripts;

namespace Gputel.Collector.Tests;

/// <summary>
/// Pod names and namespaces of GPU processes from a fake kubelet pod-resources server on a unix
/// socket, joined with fixture <c>/proc</c> trees and the fake driver's process lists.
/// </summary>
[Collection(FakeNvmlCollection.Name)]
public sealed class PodAttributionTests : IDisposable
{
    private const string Uuid0 = "GPU-00000000-0000-0000-0000-000000000000";
    private const string Uuid1 = "GPU-00000000-0000-0000-0000-000000000001";
    private const string ContainerId = "3f4b5a6c7d8e9f00112233445566778899aabbccddeeff00112233445566778a";
    private const string PodUid = "1b2c3d4e-1111-2222-3333-444455556666";
    private readonly string _proc = Directory.CreateTempSubdirectory("gputel-proc-").FullName;
    private readonly FakeKubelet _kubelet = new()
    {
        Response = FakeKubelet.List(
            FakeKubelet.Pod("trainer-0", "ml", FakeKubelet.Container("trainer", "nvidia.com/gpu", Uuid0)),
            FakeKubelet.Pod("shared-a", "team", FakeKubelet.Container("app", "nvidia.com/gpu", Uuid1 + "::0")),
            FakeKubelet.Pod("shared-b", "team", FakeKubelet.Container("app", "nvidia.com/gpu", Uuid1 + "::1")),
            FakeKubelet.Pod("fpga-job", "other", FakeKubelet.Container("main", "example.com/fpga", "0"))),
    };

    [Fact]
    public async Task The_client_reads_every_device_assignment_over_the_unix_socket()
    {
        using var client = new PodResourcesClient(_kubelet.SocketPath, TimeSpan.FromSeconds(10));

        IReadOnlyList<PodDeviceAssignment> list = await client.ListAsync();

        Assert.Equal(
        [
            new("trainer-0", "ml", "trainer", "nvidia.com/gpu", Uuid0),
            new("shared-a", "team", "app", "nvidia.com/gpu", Uuid1 + "::0"),
            new("shared-b", "team", "app", "nvidia.com/gpu", Uuid1 + "::1"),
            new("fpga-job", "other", "main", "example.com/fpga", "0"),
        ], list);
    }

    [Fact]
    public async Task A_grpc_error_is_reported_with_its_status_and_message()
    {
        _kubelet.FailWith = 14;
        using var client = new PodResourcesClient(_kubelet.SocketPath, TimeSpan.FromSeconds(10));

        var e = await Assert.ThrowsAsync<HttpRequestException>(() => client.ListAsync());
        Assert.Equal("kubelet pod-resources List failed: gRPC status 14 kubelet is restarting", e.Message);
    }

    [Fact]
    public void Processes_are_named_by_the_pod_given_their_gpu()
    {
        Process(4242, "python3", $"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{PodUid.Replace('-', '_')}.slice/cri-containerd-{ContainerId}.scope\n");
        Process(300, "Xorg", "0::/system.slice/display-manager.service\n");
        Process(501, "python3", "0::/kubepods.slice/kubepods-besteffort.slice/cri-containerd-" + ContainerId.Replace('3', '4') + ".scope\n", hostname: "shared-a");
        Process(502, "python3", "0::/kubepods.slice/kubepods-besteffort.slice/cri-containerd-" + ContainerId.Replace('3', '5') + ".scope\n");
        using GpuSession session = FakeNvml.Open(Header()
            + Gpu(0, extra: $"process compute 4242 {4 * GiB}\nprocess graphics 300 {GiB}\nprocess compute 77 {2 * GiB}\n")
            + Gpu(1, extra: $"process compute 501 {GiB}\nprocess compute 502 {GiB}\n"));
        using var client = new PodResourcesClient(_kubelet.SocketPath, TimeSpan.FromSeconds(10));
        var collector = new ProcessCollector(new ProcessDescriber(_proc, new PodDirectory(client.ListAsync, TimeSpan.FromMinutes(1))));

        List<ProcessReading> rows = session.Devices.SelectMany(d => Run(collector, d).Processes).ToList();

        // In a pod's container on the pod's GPU: name, namespace, and the UID from the cgroup.
        ProcessReading trainer = Assert.Single(rows, r => r.Pid == 4242);
        Assert.Equal(("trainer-0", "ml", PodUid, ContainerId), (trainer.Pod, trainer.Namespace, trainer.PodUid, trainer.ContainerId));
        // A host process on the same GPU is not the pod's.
        Assert.Equal(("", ""), Pod(rows, 300));
        // Not in this /proc (another PID namespace): the GPU is the pod's alone, so the process is too.
        Assert.Equal(("trainer-0", "ml"), Pod(rows, 77));
        // Two pods share GPU 1: HOSTNAME tells one apart; without it the name stays unknown.
        Assert.Equal(("shared-a", "team"), Pod(rows, 501));
        Assert.Equal(("", ""), Pod(rows, 502));
        // One List call for five new processes on two GPUs: the answer is reused while it is fresh.
        Assert.Equal(1, _kubelet.Calls);
    }

    [Fact]
    public void Without_a_kubelet_pods_are_known_by_uid_only()
    {
        Process(4242, "python3", $"11:devices:/kubepods/burstable/pod{PodUid}/{ContainerId}\n");
        using GpuSession session = FakeNvml.Open(Header() + Gpu(0, extra: $"process compute 4242 {4 * GiB}\n"));

        ProcessReading row = Assert.Single(Run(new ProcessCollector(new ProcessDescriber(_proc)), session.Devices[0]).Processes);

        Assert.Equal(("", "", PodUid, ContainerId), (row.Pod, row.Namespace, row.PodUid, row.ContainerId));
    }

    [Fact]
    public void A_failing_kubelet_is_logged_once_and_its_recovery_too()
    {
        Process(4242, "python3", $"0::/kubepods/pod{PodUid}/{ContainerId}\n");
        _kubelet.FailWith = 14;
        using GpuSession session = FakeNvml.Open(Header() + Gpu(0, extra: $"process compute 4242 {GiB}\nprocess compute 4343 {GiB}\n"));
        using var client = new PodResourcesClient(_kubelet.SocketPath, TimeSpan.FromSeconds(10));
        var collector = new ProcessCollector(new ProcessDescriber(_proc, new PodDirectory(client.ListAsync, TimeSpan.Zero)));

        CollectorOutput failing = Run(collector, session.Devices[0]);
        Assert.All(failing.Processes, p => Assert.Equal("", p.Pod));
        Assert.Equal(["kubelet pod-resources: kubelet pod-resources List failed: gRPC status 14 kubelet is restarting; pods are known by UID only"], failing.Notes);

        // A new process while the kubelet is back: named, and one line says so.
        _kubelet.FailWith = 0;
        FakeNvml.LoadScript(Header() + Gpu(0, extra: $"process compute 4242 {GiB}\nprocess compute 4343 {GiB}\nprocess compute 4444 {GiB}\n"));
        CollectorOutput back = Run(collector, session.Devices[0]);
        Assert.Equal(("trainer-0", "ml"), Pod([.. back.Processes], 4444));
        Assert.Equal(["kubelet pod-resources answers again: pod names are back"], back.Notes);
        // Processes first seen while it failed are described again, and named now too.
        Assert.Equal(("trainer-0", "ml"), Pod([.. back.Processes], 4242));
        Assert.Equal(("trainer-0", "ml"), Pod([.. back.Processes], 4343));
    }

    [Fact]
    public void A_missing_socket_is_a_failure_not_an_exception()
    {
        using var client = new PodResourcesClient(Path.Combine(_proc, "absent.sock"), TimeSpan.FromSeconds(10));
        var directory = new PodDirectory(client.ListAsync, TimeSpan.FromMinutes(1));

        Assert.Null(directory.Find(Device(0, Uuid0), () => null));
        Assert.StartsWith("kubelet pod-resources: ", directory.Failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("nvidia.com/gpu", Uuid0, true)]
    [InlineData("nvidia.com/gpu", Uuid0 + "::3", true)]
    [InlineData("nvidia.com/gpu", Uuid0 + "7", false)]
    [InlineData("nvidia.com/gpu", "0", true)]
    [InlineData("nvidia.com/gpu", "1", false)]
    [InlineData("example.com/fpga", "0", false)]
    public void Device_ids_match_by_uuid_replica_or_nvidia_index(string resource, string deviceId, bool matches)
    {
        var directory = new PodDirectory(_ => Task.FromResult<IReadOnlyList<PodDeviceAssignment>>([new("p", "ns", "c", resource, deviceId)]), TimeSpan.FromMinutes(1));

        Assert.Equal(matches, directory.Find(Device(0, Uuid0), () => null) is not null);
    }

    [Fact]
    public void A_gpu_handed_to_the_next_pod_is_named_after_it_once_the_list_is_refetched()
    {
        string owner = "first";
        var directory = new PodDirectory(_ => Task.FromResult<IReadOnlyList<PodDeviceAssignment>>([new(owner, "ns", "c", "nvidia.com/gpu", Uuid0)]), TimeSpan.Zero);

        Assert.Equal("first", directory.Find(Device(0, Uuid0), () => null)?.Pod);
        owner = "second";
        Assert.Equal("second", directory.Find(Device(0, Uuid0), () => null)?.Pod);
    }

    private void Process(int pid, string comm, string cgroup, string? hostname = null)
    {
        string dir = Directory.CreateDirectory(Path.Combine(_proc, pid.ToString(System.Globalization.CultureInfo.InvariantCulture))).FullName;
        File.WriteAllText(Path.Combine(dir, "comm"), comm + "\n");
        File.WriteAllText(Path.Combine(dir, "cgroup"), cgroup);
        if (hostname is not null)
        {
            File.WriteAllText(Path.Combine(dir, "environ"), $"PATH=/usr/bin\0HOSTNAME={hostname}\0HOME=/root\0");
        }
    }

    private static (string, string) Pod(List<ProcessReading> rows, int pid)
    {
        ProcessReading row = Assert.Single(rows, r => r.Pid == pid);
        return (row.Pod, row.Namespace);
    }

    private static CollectorOutput Run(IGpuCollector collector, GpuDevice device)
    {
        var output = new CollectorOutput();
        collector.Collect(device, output);
        return output;
    }

    private static GpuDevice Device(int index, string uuid) => new(index, default, uuid, "NVIDIA H100 80GB HBM3", "00000000:01:00.0", 0);

    public void Dispose()
    {
        _kubelet.Dispose();
        Directory.Delete(_proc, recursive: true);
    }
}
