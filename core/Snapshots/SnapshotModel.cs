namespace Gputel.Core.Snapshots;

/// <summary>One frame of a recorded stack: a Python or C++ function at a file and line.</summary>
/// <param name="File">The file (<c>??</c> or empty for C++ frames without debug information).</param>
/// <param name="Line">The line, 0 where unknown.</param>
/// <param name="Name">The function.</param>
public sealed record StackFrame(string File, int Line, string Name);

/// <summary>What a trace entry records (PyTorch's <c>device_traces[][].action</c>).</summary>
public enum TraceAction
{
    /// <summary>A block handed to a tensor.</summary>
    Alloc,
    /// <summary>The tensor let go of its block; the allocator frees it once its streams are done (<see cref="FreeCompleted"/>).</summary>
    FreeRequested,
    /// <summary>The block is back in the allocator's cache (older snapshots: <c>free</c>).</summary>
    FreeCompleted,
    /// <summary>The allocator reserved a segment from the driver (<c>cudaMalloc</c>).</summary>
    SegmentAlloc,
    /// <summary>The allocator gave a segment back to the driver.</summary>
    SegmentFree,
    /// <summary>An allocation failed: out of memory.</summary>
    Oom,
    /// <summary>Anything else (<c>snapshot</c>, expandable segments' map and unmap): kept, not replayed.</summary>
    Other,
}

/// <summary>One trace entry.</summary>
/// <param name="Action">What happened.</param>
/// <param name="Address">The block's or segment's address.</param>
/// <param name="Size">Its size in bytes (for <see cref="TraceAction.Oom"/>, the size asked for).</param>
/// <param name="TimeUs">When, in microseconds since the epoch (0 where the snapshot has no times).</param>
/// <param name="Stack">The recorded stack, as an index into <see cref="CudaSnapshot.Stacks"/> (0: none).</param>
/// <param name="DeviceFree">For <see cref="TraceAction.Oom"/>: the device's free bytes then, where recorded.</param>
public readonly record struct TraceEvent(TraceAction Action, ulong Address, long Size, long TimeUs, int Stack, long DeviceFree = 0);

/// <summary>A block live when the snapshot was taken (state <c>active_allocated</c> or <c>active_pending_free</c>).</summary>
/// <param name="Address">Its address.</param>
/// <param name="Size">Its size in bytes.</param>
/// <param name="Stack">Where it was allocated, where the snapshot kept it (index into <see cref="CudaSnapshot.Stacks"/>; 0: none).</param>
public readonly record struct LiveBlock(ulong Address, long Size, int Stack);

/// <summary>An optimizer's own START/END annotation (PyTorch 2.5+: <c>Optimizer.step#AdamW.step</c>).</summary>
/// <param name="Name">The annotation's name.</param>
/// <param name="Start">True at START, false at END.</param>
/// <param name="TimeUs">When, in microseconds since the epoch.</param>
public readonly record struct Annotation(string Name, bool Start, long TimeUs);

/// <summary>One device's part of a snapshot: its segments' state at the end and its trace.</summary>
public sealed class DeviceSnapshot
{
    /// <summary>The CUDA device index.</summary>
    public required int Device { get; init; }

    /// <summary>Bytes the allocator held in segments when the snapshot was taken.</summary>
    public required long ReservedAtEnd { get; init; }

    /// <summary>The blocks in use when the snapshot was taken.</summary>
    public required IReadOnlyList<LiveBlock> LiveAtEnd { get; init; }

    /// <summary>The trace, oldest first.</summary>
    public required IReadOnlyList<TraceEvent> Trace { get; init; }

    /// <summary>Optimizer annotations, oldest first.</summary>
    public required IReadOnlyList<Annotation> Annotations { get; init; }
}

/// <summary>A PyTorch CUDA memory snapshot (<c>torch.cuda.memory._dump_snapshot</c>), read into compact form.</summary>
public sealed class CudaSnapshot
{
    /// <summary>The distinct stacks, innermost frame first; index 0 is the empty stack.</summary>
    public required IReadOnlyList<StackFrame[]> Stacks { get; init; }

    /// <summary>Every device the snapshot has segments or a trace for.</summary>
    public required IReadOnlyList<DeviceSnapshot> Devices { get; init; }

    /// <summary>The allocator's settings as recorded (<c>PYTORCH_CUDA_ALLOC_CONF</c> and the rest), as text.</summary>
    public required IReadOnlyDictionary<string, string> AllocatorSettings { get; init; }
}
