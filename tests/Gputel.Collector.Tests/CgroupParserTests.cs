using Gputel.Collector.Processes;

namespace Gputel.Collector.Tests;

public sealed class CgroupParserTests
{
    private const string Id = "3f4b5a6c7d8e9f00112233445566778899aabbccddeeff00112233445566778a";

    [Theory]
    [InlineData("0::/system.slice/docker-" + Id + ".scope\n", Id, "")]
    [InlineData("12:memory:/docker/" + Id + "\n11:cpu,cpuacct:/docker/" + Id + "\n", Id, "")]
    [InlineData("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_1111_2222_3333_444455556666.slice/cri-containerd-" + Id + ".scope\n", Id, "1b2c3d4e-1111-2222-3333-444455556666")]
    [InlineData("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c3d4e_1111_2222_3333_444455556666.slice/crio-" + Id + ".scope\n", Id, "1b2c3d4e-1111-2222-3333-444455556666")]
    [InlineData("11:devices:/kubepods/burstable/pod1b2c3d4e-1111-2222-3333-444455556666/" + Id + "\n", Id, "1b2c3d4e-1111-2222-3333-444455556666")]
    [InlineData("0::/machine.slice/libpod-" + Id + ".scope/container\n", Id, "")]
    // cgroup v1 with the systemd driver: containerd and CRI-O, Guaranteed and Burstable pods.
    [InlineData("10:memory:/kubepods.slice/kubepods-pod1b2c3d4e_1111_2222_3333_444455556666.slice/cri-containerd-" + Id + ".scope\n", Id, "1b2c3d4e-1111-2222-3333-444455556666")]
    [InlineData("9:memory:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_1111_2222_3333_444455556666.slice/crio-" + Id + ".scope\n", Id, "1b2c3d4e-1111-2222-3333-444455556666")]
    // cgroup v1 with the cgroupfs driver: the first controller line with an id wins, whatever comes before.
    [InlineData("12:freezer:/\n4:pids:/kubepods/besteffort/pod1b2c3d4e-1111-2222-3333-444455556666/" + Id + "\n", Id, "1b2c3d4e-1111-2222-3333-444455556666")]
    // Docker under systemd on cgroup v1 (name=systemd hierarchy) and a nested node (kind) on cgroup v2.
    [InlineData("1:name=systemd:/system.slice/docker-" + Id + ".scope\n", Id, "")]
    [InlineData("0::/system.slice/containerd.service/kubepods-burstable-pod1b2c3d4e_1111_2222_3333_444455556666.slice:cri-containerd:" + Id + "\n", Id, "1b2c3d4e-1111-2222-3333-444455556666")]
    public void Finds_container_and_pod_in_every_runtime_path_form(string cgroup, string container, string pod)
    {
        CgroupParser.CgroupIdentity identity = CgroupParser.Parse(cgroup);

        Assert.Equal(container, identity.ContainerId);
        Assert.Equal(pod, identity.PodUid);
    }

    [Theory]
    [InlineData("0::/user.slice/user-1000.slice/session-2.scope\n")]
    [InlineData("0::/\n")]
    [InlineData("")]
    [InlineData("12:memory:/docker/not-a-container-id\n")]
    public void Host_processes_have_no_container(string cgroup)
    {
        Assert.Equal(new CgroupParser.CgroupIdentity("", ""), CgroupParser.Parse(cgroup));
    }
}
