using System.Collections;
using System.Globalization;

namespace Gputel.Core.Snapshots;

/// <summary>
/// Reads a PyTorch CUDA memory snapshot: the pickle <c>torch.cuda.memory._dump_snapshot</c> writes
/// (layout in PyTorch's <c>torch/cuda/memory.py</c>, <c>_snapshot</c>), in one pass
/// (<see cref="PickleStream"/>). Frames and stacks are interned as they are read, so the compact form
/// holds each distinct stack once, however many events share it.
/// </summary>
public static class SnapshotReader
{
    /// <summary>Whether <paramref name="path"/> looks like a pickle (protocol 2 or later opens with 0x80).</summary>
    public static bool LooksLikePickle(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            return false;
        }

        using FileStream stream = File.OpenRead(path);
        return stream.ReadByte() == 0x80;
    }

    /// <summary>Reads the snapshot at <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">Not a pickle, a damaged one, or a pickle that is not a memory snapshot; the message says which, in one line.</exception>
    public static CudaSnapshot Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        object? root;
        using (var stream = new BufferedStream(File.OpenRead(path), 1 << 20))
        {
            try
            {
                root = PickleStream.Load(stream);
            }
            catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException or OverflowException or FormatException or ArgumentException)
            {
                throw new InvalidDataException($"{path} is not a readable pickle ({FirstLine(e.Message)})", e);
            }
        }

        return FromPickle(root, path);
    }

    /// <summary>Builds the compact snapshot from the unpickled object graph (dicts, lists, strings, numbers).</summary>
    internal static CudaSnapshot FromPickle(object? root, string path)
    {
        if (root is not IDictionary top || !top.Contains("segments") || !top.Contains("device_traces"))
        {
            throw new InvalidDataException($"{path} is a pickle but not a PyTorch memory snapshot (no 'segments' and 'device_traces'; write one with torch.cuda.memory._dump_snapshot)");
        }

        var stacks = new StackTable();
        IList segments = List(top["segments"], "segments", path);
        IList traces = List(top["device_traces"], "device_traces", path);

        var reserved = new Dictionary<int, long>();
        var live = new Dictionary<int, List<LiveBlock>>();
        foreach (object? item in segments)
        {
            IDictionary segment = Dict(item, "a segment", path);
            int device = (int)Number(segment, "device", "a segment", path);
            reserved[device] = reserved.GetValueOrDefault(device) + Number(segment, "total_size", "a segment", path);
            List<LiveBlock> blocks = live.TryGetValue(device, out var b) ? b : live[device] = [];
            foreach (object? blockItem in List(segment["blocks"], "a segment's blocks", path))
            {
                IDictionary block = Dict(blockItem, "a block", path);
                string state = Text(block, "state", "a block", path);
                if (state is "active_allocated" or "active_pending_free")
                {
                    blocks.Add(new LiveBlock((ulong)Number(block, "address", "a block", path), Number(block, "size", "a block", path), stacks.Intern(block["frames"], path)));
                }
            }
        }

        var annotations = new Dictionary<int, List<Annotation>>();
        if (top.Contains("external_annotations") && top["external_annotations"] is IList external)
        {
            foreach (object? item in external)
            {
                if (item is IDictionary a && a["name"] is string name && a["stage"] is string stage && a.Contains("time_us"))
                {
                    int device = a.Contains("device") ? (int)Number(a, "device", "an annotation", path) : 0;
                    (annotations.TryGetValue(device, out var list) ? list : annotations[device] = []).Add(new Annotation(name, stage == "START", Number(a, "time_us", "an annotation", path)));
                }
            }
        }

        var devices = new List<DeviceSnapshot>();
        var withTraces = new HashSet<int>();
        for (int d = 0; d < traces.Count; d++)
        {
            IList trace = List(traces[d], "a device trace", path);
            var events = new List<TraceEvent>(trace.Count);
            foreach (object? item in trace)
            {
                events.Add(Event(Dict(item, "a trace entry", path), stacks, path));
            }

            if (events.Count > 0 || reserved.ContainsKey(d))
            {
                withTraces.Add(d);
                devices.Add(Device(d, reserved, live, events, annotations));
            }
        }

        foreach (int d in reserved.Keys.Where(k => !withTraces.Contains(k)).Order())
        {
            devices.Add(Device(d, reserved, live, [], annotations));
        }

        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        if (top.Contains("allocator_settings") && top["allocator_settings"] is IDictionary allocator)
        {
            foreach (DictionaryEntry entry in allocator)
            {
                if (entry.Key is string key && entry.Value is string or bool or int or long or double)
                {
                    settings[key] = Convert.ToString(entry.Value, CultureInfo.InvariantCulture) ?? string.Empty;
                }
            }
        }

        return new CudaSnapshot { Stacks = stacks.All, Devices = devices, AllocatorSettings = settings };
    }

    private static DeviceSnapshot Device(int d, Dictionary<int, long> reserved, Dictionary<int, List<LiveBlock>> live, List<TraceEvent> events, Dictionary<int, List<Annotation>> annotations) => new()
    {
        Device = d,
        ReservedAtEnd = reserved.GetValueOrDefault(d),
        LiveAtEnd = live.TryGetValue(d, out var blocks) ? blocks : [],
        Trace = events,
        Annotations = annotations.TryGetValue(d, out var a) ? [.. a.OrderBy(x => x.TimeUs)] : [],
    };

    private static TraceEvent Event(IDictionary entry, StackTable stacks, string path)
    {
        string action = Text(entry, "action", "a trace entry", path);
        TraceAction kind = action switch
        {
            "alloc" => TraceAction.Alloc,
            "free_requested" => TraceAction.FreeRequested,
            "free_completed" or "free" => TraceAction.FreeCompleted,
            "segment_alloc" => TraceAction.SegmentAlloc,
            "segment_free" => TraceAction.SegmentFree,
            "oom" => TraceAction.Oom,
            _ => TraceAction.Other,
        };
        long time = entry.Contains("time_us") && entry["time_us"] is not null ? Number(entry, "time_us", "a trace entry", path) : 0;
        long size = entry.Contains("size") ? Number(entry, "size", "a trace entry", path) : 0;
        ulong address = entry.Contains("addr") ? (ulong)Number(entry, "addr", "a trace entry", path) : 0;
        long free = kind == TraceAction.Oom && entry.Contains("device_free") ? Number(entry, "device_free", "an oom entry", path) : 0;
        int stack = entry.Contains("frames") ? stacks.Intern(entry["frames"], path) : 0;
        return new TraceEvent(kind, address, size, time, stack, free);
    }

    private static IDictionary Dict(object? value, string what, string path) =>
        value as IDictionary ?? throw new InvalidDataException($"{path}: {what} is a {Describe(value)}, not a dict: not a PyTorch memory snapshot");

    private static IList List(object? value, string what, string path) =>
        value as IList ?? throw new InvalidDataException($"{path}: {what} is a {Describe(value)}, not a list: not a PyTorch memory snapshot");

    private static string Text(IDictionary d, string key, string what, string path) =>
        d.Contains(key) && d[key] is string s ? s : throw new InvalidDataException($"{path}: {what} has no text '{key}': not a PyTorch memory snapshot");

    private static long Number(IDictionary d, string key, string what, string path)
    {
        object? value = d.Contains(key) ? d[key] : null;
        return value switch
        {
            int i => i,
            long l => l,
            // Addresses above 2^63 do not occur on x86-64 and arm64 user space; a BigInteger there
            // would be a damaged file.
            System.Numerics.BigInteger big when big >= long.MinValue && big <= ulong.MaxValue => big <= long.MaxValue ? (long)big : unchecked((long)(ulong)big),
            _ => throw new InvalidDataException($"{path}: {what} has no whole number '{key}' ({Describe(value)}): not a PyTorch memory snapshot"),
        };
    }

    private static string Describe(object? value) => value switch
    {
        null => "None",
        string => "str",
        IDictionary => "dict",
        IList => "list",
        _ => value.GetType().Name,
    };

    private static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();

    /// <summary>Interns frames and stacks: events that share a stack share one array.</summary>
    private sealed class StackTable
    {
        private readonly Dictionary<(string, int, string), StackFrame> _frames = [];
        private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
        private readonly List<StackFrame[]> _stacks = [[]];
        private readonly System.Text.StringBuilder _key = new();

        public IReadOnlyList<StackFrame[]> All => _stacks;

        public int Intern(object? frames, string path)
        {
            if (frames is not IList list || list.Count == 0)
            {
                return 0;
            }

            var stack = new StackFrame[list.Count];
            _key.Clear();
            for (int i = 0; i < list.Count; i++)
            {
                // Frames come already shared from the reader; a frame dict (another reader's graph) is made one.
                StackFrame frame;
                if (list[i] is StackFrame read)
                {
                    frame = read;
                }
                else
                {
                    IDictionary f = Dict(list[i], "a frame", path);
                    string file = f["filename"] as string ?? string.Empty, name = f["name"] as string ?? string.Empty;
                    int line = f["line"] is int n ? n : f["line"] is long ln ? (int)Math.Clamp(ln, int.MinValue, int.MaxValue) : 0;
                    if (!_frames.TryGetValue((file, line, name), out StackFrame? known))
                    {
                        known = new StackFrame(file, line, name);
                        _frames[(file, line, name)] = known;
                    }

                    frame = known;
                }

                string fileName = frame.File, frameName = frame.Name;
                int lineNumber = frame.Line;

                stack[i] = frame;
                _key.Append(fileName).Append('\u0001').Append(lineNumber).Append('\u0001').Append(frameName).Append('\u0002');
            }

            string key = _key.ToString();
            if (!_ids.TryGetValue(key, out int id))
            {
                id = _stacks.Count;
                _stacks.Add(stack);
                _ids[key] = id;
            }

            return id;
        }
    }
}
