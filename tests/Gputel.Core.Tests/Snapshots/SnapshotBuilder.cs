using Razorvine.Pickle;

namespace Gputel.Core.Tests.Snapshots;

/// <summary>
/// Builds a snapshot as <c>torch.cuda.memory._snapshot()</c> lays it out (dicts, lists, strings,
/// numbers), so the tests know every allocation and so the peak and the categories it must give.
/// </summary>
internal sealed class SnapshotBuilder
{
    private readonly List<object> _trace = [];
    private readonly List<object> _liveBlocks = [];
    private long _time = 1_700_000_000_000_000;
    private long _reserved;

    public static readonly object[] Forward = [Py("/app/model.py", 40, "forward"), Py("/usr/lib/python3/site-packages/torch/nn/modules/module.py", 1750, "_call_impl"), Py("/app/train.py", 10, "train")];
    public static readonly object[] Backward = [Cpp("torch::autograd::generated::MmBackward0::apply(std::vector<at::Tensor>&&)"), Cpp("torch::autograd::Engine::evaluate_function(...)")];
    public static readonly object[] Gradient = [Cpp("torch::autograd::AccumulateGrad::apply(std::vector<at::Tensor>&&)"), Cpp("torch::autograd::Engine::evaluate_function(...)")];
    public static readonly object[] Optimizer = [Py("/usr/lib/python3/site-packages/torch/optim/adamw.py", 500, "_multi_tensor_adamw"), Py("/usr/lib/python3/site-packages/torch/optim/optimizer.py", 480, "wrapper"), Py("/app/train.py", 12, "train")];
    public static readonly object[] Loading = [Py("/usr/lib/python3/site-packages/transformers/modeling_utils.py", 4000, "from_pretrained"), Py("/app/train.py", 3, "main")];
    public static readonly object[] Plain = [Py("/app/train.py", 20, "train")];

    public static Dictionary<string, object> Py(string file, int line, string name) => new() { ["filename"] = file, ["line"] = line, ["name"] = name };

    public static Dictionary<string, object> Cpp(string name) => new() { ["filename"] = "??", ["line"] = 0, ["name"] = name };

    public SnapshotBuilder Segment(long size)
    {
        _reserved += size;
        return Event("segment_alloc", 0xdead0000, size, Plain);
    }

    public SnapshotBuilder Alloc(long address, long size, object[] frames) => Event("alloc", address, size, frames);

    public SnapshotBuilder Free(long address, long size, object[] frames) =>
        Event("free_requested", address, size, frames).Event("free_completed", address, size, frames);

    public SnapshotBuilder Oom(long size, object[] frames)
    {
        _time++;
        _trace.Add(new Dictionary<string, object> { ["action"] = "oom", ["addr"] = 0, ["size"] = size, ["device_free"] = 1024, ["stream"] = 0, ["time_us"] = _time, ["frames"] = new List<object>(frames) });
        return this;
    }

    /// <summary>A block still in use when the snapshot is taken (in the segments' blocks).</summary>
    public SnapshotBuilder LiveAtEnd(long address, long size)
    {
        _liveBlocks.Add(new Dictionary<string, object> { ["address"] = address, ["size"] = size, ["requested_size"] = size, ["state"] = "active_allocated", ["frames"] = new List<object>() });
        return this;
    }

    public SnapshotBuilder Annotate(string name, bool start)
    {
        _time++;
        _annotations.Add(new Dictionary<string, object> { ["stage"] = start ? "START" : "END", ["name"] = name, ["device"] = 0, ["time_us"] = _time });
        return this;
    }

    private readonly List<object> _annotations = [];

    private SnapshotBuilder Event(string action, long address, long size, object[] frames)
    {
        _time++;
        _trace.Add(new Dictionary<string, object> { ["action"] = action, ["addr"] = address, ["size"] = size, ["stream"] = 0, ["time_us"] = _time, ["frames"] = new List<object>(frames) });
        return this;
    }

    public Dictionary<string, object> Build(long? reservedBeforeRecording = null)
    {
        long reserved = _reserved + (reservedBeforeRecording ?? 0);
        var segment = new Dictionary<string, object>
        {
            ["device"] = 0, ["address"] = 0xdead0000L, ["total_size"] = reserved, ["allocated_size"] = 0, ["active_size"] = 0, ["requested_size"] = 0,
            ["stream"] = 0, ["segment_type"] = "large", ["is_expandable"] = false, ["frames"] = new List<object>(),
            ["blocks"] = new List<object>(_liveBlocks),
        };
        var top = new Dictionary<string, object>
        {
            ["segments"] = new List<object> { segment },
            ["device_traces"] = new List<object> { new List<object>(_trace) },
        };
        if (_annotations.Count > 0)
        {
            top["external_annotations"] = new List<object>(_annotations);
        }

        return top;
    }

    public string Write(string directory, string name = "snapshot.pickle")
    {
        string path = Path.Combine(directory, name);
        using var pickler = new Pickler();
        File.WriteAllBytes(path, pickler.dumps(Build()));
        return path;
    }
}
