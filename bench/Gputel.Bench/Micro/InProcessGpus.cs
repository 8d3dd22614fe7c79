using Gputel.Bench.Rig;
using Gputel.Collector.Collectors;
using Gputel.Collector.Sampling;
using Gputel.Collector.Store;

namespace Gputel.Bench.Micro;

/// <summary>
/// The agent's sampling pieces wired as AgentHost wires them, in this process, on the fake
/// 8-GPU node, with every collector that samples a device (all but the host-wide one). The
/// store holds one full sample once this is created.
/// </summary>
internal sealed class InProcessGpus : IDisposable
{
    private readonly FakeGpuNode _node;
    private readonly GpuSession _session;
    private readonly XidWatcher _xid;

    public InProcessGpus()
    {
        _node = new FakeGpuNode();
        try
        {
            // Must precede the session: the driver reads the variable with getenv in nvmlInit.
            LibC.SetEnvironmentVariable(FakeGpuNode.ScriptVariable, _node.ScriptPath);
            _session = GpuSession.Open(_node.LibraryPath);
            if (_session.Devices.Count != FakeGpuScript.Gpus)
            {
                throw new InvalidOperationException(
                    $"expected {FakeGpuScript.Gpus} fake GPUs, found {_session.Devices.Count}: {_session.UnavailableReason}");
            }

            string[] names = CollectorCatalog.Names.Where(n => n != "host").ToArray();
            Store = new SampleStore(_session.Devices, names);
            _xid = new XidWatcher(_session.Driver!, _session.Devices);
            Sampler = new Sampler(Store, CollectorCatalog.Create(names, Store, _xid), TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(1));
            Sampler.SampleOnce();
            ThrowOnFailedCollector();
        }
        catch
        {
            // The stand-in processes would otherwise outlive a failed setup.
            Sampler?.Dispose();
            _xid?.Dispose();
            _session?.Dispose();
            _node.Dispose();
            throw;
        }
    }

    public SampleStore Store { get; }

    public Sampler Sampler { get; }

    public string DriverVersion => _session.DriverVersion;

    // A collector failing on the fake node would make the benchmark measure an error path.
    private void ThrowOnFailedCollector()
    {
        for (int c = 0; c < Store.CollectorNames.Count; c++)
        {
            for (int d = 0; d < Store.Devices.Count; d++)
            {
                if (Store.Get(c, d) is { Success: false } failed)
                {
                    throw new InvalidOperationException($"collector {Store.CollectorNames[c]} failed on GPU {d}: {failed.Error}");
                }
            }
        }
    }

    public void Dispose()
    {
        Sampler.Dispose();
        _xid.Dispose();
        _session.Dispose();
        _node.Dispose();
    }
}
