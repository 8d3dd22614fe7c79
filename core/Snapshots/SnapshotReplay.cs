using Gputel.Core.Memory;
using Gputel.Core.Training;

namespace Gputel.Core.Snapshots;

/// <summary>One phase of one step as the replay found it: its categories at its end and its peak inside.</summary>
/// <param name="Step">Training step, from 0 (a forward after any other phase starts the next).</param>
/// <param name="Phase">The phase.</param>
/// <param name="StartUs">Time of its first event.</param>
/// <param name="EndUs">Time of its last event.</param>
/// <param name="Bytes">Bytes per category at its end, indexed by <see cref="MemoryCategory"/> (allocator cache included).</param>
/// <param name="AllocatedBytes">Bytes in use (allocated blocks) at its end.</param>
/// <param name="PeakBytes">The highest bytes in use inside it.</param>
public sealed record ReplayedPhase(int Step, Phase Phase, long StartUs, long EndUs, long[] Bytes, long AllocatedBytes, long PeakBytes);

/// <summary>An allocation site and the bytes its live blocks held at the peak.</summary>
/// <param name="Site">File and line (and function) that asked for the memory.</param>
/// <param name="Category">The category most of those bytes are in.</param>
/// <param name="Bytes">Bytes held at the peak.</param>
/// <param name="Blocks">How many blocks.</param>
public sealed record AllocationSite(string Site, string Category, long Bytes, int Blocks);

/// <summary>An allocation that failed for want of memory.</summary>
/// <param name="TimeUs">When.</param>
/// <param name="Step">The step it failed in.</param>
/// <param name="Phase">The phase it failed in.</param>
/// <param name="RequestedBytes">What was asked for.</param>
/// <param name="DeviceFreeBytes">What the device had free then, where recorded (0 otherwise).</param>
/// <param name="AllocatedBytes">What the allocator had in use then.</param>
/// <param name="Site">Where it was asked for.</param>
public sealed record OutOfMemory(long TimeUs, int Step, Phase Phase, long RequestedBytes, long DeviceFreeBytes, long AllocatedBytes, string Site);

/// <summary>What the replay of one device's trace found.</summary>
public sealed class SnapshotReplay
{
    /// <summary>The device.</summary>
    public required int Device { get; init; }

    /// <summary>The phases in order.</summary>
    public required IReadOnlyList<ReplayedPhase> Phases { get; init; }

    /// <summary>The highest bytes in use over the whole trace: exact, replayed event by event.</summary>
    public required long PeakAllocatedBytes { get; init; }

    /// <summary>Reserved (segments) at that moment; reserved minus in use is the allocator's cache.</summary>
    public required long PeakReservedBytes { get; init; }

    /// <summary>When the peak was reached.</summary>
    public required long PeakTimeUs { get; init; }

    /// <summary>The index into <see cref="Phases"/> of the phase the peak fell in.</summary>
    public required int PeakPhase { get; init; }

    /// <summary>Bytes per category at the peak itself, indexed by <see cref="MemoryCategory"/> (allocator cache included).</summary>
    public required long[] PeakBytes { get; init; }

    /// <summary>Allocation sites of what was live at the peak, largest first.</summary>
    public required IReadOnlyList<AllocationSite> Sites { get; init; }

    /// <summary>Allocations that failed.</summary>
    public required IReadOnlyList<OutOfMemory> OutOfMemory { get; init; }

    /// <summary>Bytes in use when recording began (blocks no trace event allocated).</summary>
    public required long AllocatedAtStart { get; init; }

    /// <summary>Bytes in use over time: (time, bytes), thinned to at most a few thousand points with every local extreme kept.</summary>
    public required IReadOnlyList<(long TimeUs, long Bytes)> Timeline { get; init; }

    /// <summary>Trace entries replayed.</summary>
    public required int Events { get; init; }

    /// <summary>
    /// Replays <paramref name="device"/>'s trace. The state before the first entry is found by
    /// walking back from the blocks live at the end: a block an entry allocated did not exist before
    /// it, a block an entry freed did. Blocks live throughout, whose allocation the trace does not
    /// hold, are <see cref="MemoryCategory.BeforeRecording"/> unless their own recorded stack names them.
    /// </summary>
    public static SnapshotReplay Run(CudaSnapshot snapshot, DeviceSnapshot device)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(device);
        IReadOnlyList<TraceEvent> trace = device.Trace;
        var stackPhase = new Phase?[snapshot.Stacks.Count];
        var stackKnown = new bool[snapshot.Stacks.Count];
        var stackCategory = new MemoryCategory?[snapshot.Stacks.Count];
        var stackCategoryKnown = new bool[snapshot.Stacks.Count];
        Phase? PhaseOfStack(int s)
        {
            if (!stackKnown[s])
            {
                stackPhase[s] = FrameRules.PhaseOf(snapshot.Stacks[s]);
                stackKnown[s] = true;
            }

            return stackPhase[s];
        }

        MemoryCategory? CategoryOfStack(int s)
        {
            if (!stackCategoryKnown[s])
            {
                stackCategory[s] = FrameRules.CategoryOf(snapshot.Stacks[s]);
                stackCategoryKnown[s] = true;
            }

            return stackCategory[s];
        }

        // 1. The state when recording began, walking back from the end.
        var live = new Dictionary<ulong, (long Size, int Stack)>();
        foreach (LiveBlock b in device.LiveAtEnd)
        {
            live[b.Address] = (b.Size, b.Stack);
        }

        long reserved = device.ReservedAtEnd;
        for (int i = trace.Count - 1; i >= 0; i--)
        {
            TraceEvent e = trace[i];
            switch (e.Action)
            {
                case TraceAction.Alloc:
                    live.Remove(e.Address);
                    break;
                case TraceAction.FreeCompleted:
                    // Freed in the trace but allocated before it: no stack of its allocation is known.
                    live[e.Address] = (e.Size, 0);
                    break;
                case TraceAction.SegmentAlloc:
                    reserved -= e.Size;
                    break;
                case TraceAction.SegmentFree:
                    reserved += e.Size;
                    break;
            }
        }

        // 2. Each event's phase: from its stack or an optimizer annotation, else the phase it falls in.
        var phaseOf = new Phase?[trace.Count];
        int a = 0;
        string? openAnnotation = null;
        Phase? current = null;
        for (int i = 0; i < trace.Count; i++)
        {
            TraceEvent e = trace[i];
            while (a < device.Annotations.Count && device.Annotations[a].TimeUs <= e.TimeUs)
            {
                Annotation an = device.Annotations[a++];
                openAnnotation = an.Start ? an.Name : null;
            }

            Phase? p = openAnnotation is { } name
                ? name.Contains("zero_grad", StringComparison.Ordinal) ? Phase.ZeroGrad : name.Contains(".step", StringComparison.Ordinal) ? Phase.OptimizerStep : null
                : null;
            p ??= e.Action is TraceAction.Alloc or TraceAction.Oom or TraceAction.FreeRequested or TraceAction.FreeCompleted ? PhaseOfStack(e.Stack) : null;
            // A free's stack is where the tensor died; inside backward that is the engine, elsewhere it
            // rarely says more than the phase it falls in.
            if (e.Action is TraceAction.FreeCompleted or TraceAction.FreeRequested && p != Phase.Backward)
            {
                p = null;
            }

            current = p ?? current;
            phaseOf[i] = current;
        }

        // Entries before any phase is known (set-up) belong to the first phase found.
        Phase first = phaseOf.FirstOrDefault(p => p is not null) ?? Phase.Forward;
        for (int i = 0; i < trace.Count && phaseOf[i] is null; i++)
        {
            phaseOf[i] = first;
        }

        // 3. Phase intervals and steps.
        var intervalOf = new int[trace.Count];
        var intervals = new List<(int Step, Phase Phase, int FirstEvent, int LastEvent)>();
        int step = 0;
        bool sawOther = false;
        for (int i = 0; i < trace.Count; i++)
        {
            Phase p = phaseOf[i]!.Value;
            if (intervals.Count == 0 || intervals[^1].Phase != p)
            {
                if (p == Phase.Forward && sawOther)
                {
                    step++;
                    sawOther = false;
                }

                sawOther |= p != Phase.Forward;
                intervals.Add((step, p, i, i));
            }
            else
            {
                intervals[^1] = intervals[^1] with { LastEvent = i };
            }

            intervalOf[i] = intervals.Count - 1;
        }

        // 4. Each allocation's lifetime, then its category from its stack or its timing.
        var freeAt = new Dictionary<int, int>();
        var openAlloc = new Dictionary<ulong, int>();
        for (int i = 0; i < trace.Count; i++)
        {
            TraceEvent e = trace[i];
            if (e.Action == TraceAction.Alloc)
            {
                openAlloc[e.Address] = i;
            }
            else if (e.Action == TraceAction.FreeCompleted && openAlloc.Remove(e.Address, out int allocation))
            {
                freeAt[allocation] = i;
            }
        }

        MemoryCategory CategoryOfAlloc(int i)
        {
            TraceEvent e = trace[i];
            MemoryCategory? named = CategoryOfStack(e.Stack);
            int freed = freeAt.TryGetValue(i, out int f) ? f : -1;
            int interval = intervalOf[i];
            bool freedInSamePhase = freed >= 0 && intervalOf[freed] == interval;
            if (named is { } n && (n != MemoryCategory.Inputs || !freedInSamePhase))
            {
                return n;
            }

            if (freedInSamePhase)
            {
                return MemoryCategory.Temporary;
            }

            // Outlives its phase: saved in forward and freed in backward is an activation; made in
            // backward and kept is a gradient; made by the optimizer and kept is its state.
            Phase made = intervals[interval].Phase;
            if (made == Phase.Forward)
            {
                return freed >= 0 && phaseOf[freed] == Phase.Backward ? MemoryCategory.Activations : MemoryCategory.Unattributed;
            }

            return made == Phase.Backward ? MemoryCategory.Gradients
                : made == Phase.OptimizerStep ? MemoryCategory.OptimizerState
                : MemoryCategory.Unattributed;
        }

        // 5. Forward replay: bytes by category as it goes, each phase's end and peak, the global peak.
        int categories = MemoryCategories.Table.Count;
        var bytes = new long[categories];
        var blocks = new Dictionary<ulong, (long Size, MemoryCategory Category, int Stack)>();
        foreach ((ulong address, (long size, int stack)) in live)
        {
            MemoryCategory c = stack != 0 && CategoryOfStack(stack) is { } named ? named : MemoryCategory.BeforeRecording;
            blocks[address] = (size, c, stack);
            bytes[(int)c] += size;
        }

        long allocated = blocks.Values.Sum(b => b.Size), atStart = allocated;
        long peak = allocated, peakReserved = reserved, peakTime = trace.Count > 0 ? trace[0].TimeUs : 0;
        int peakEvent = -1;
        var phases = new List<ReplayedPhase>();
        var ooms = new List<OutOfMemory>();
        var timeline = new List<(long, long)>();
        long intervalPeak = allocated;
        int stride = Math.Max(1, trace.Count / 2000);
        long strideMin = long.MaxValue, strideMax = long.MinValue;
        for (int i = 0; i < trace.Count; i++)
        {
            TraceEvent e = trace[i];
            switch (e.Action)
            {
                case TraceAction.Alloc:
                    MemoryCategory c = CategoryOfAlloc(i);
                    if (blocks.Remove(e.Address, out var stale))
                    {
                        // A block allocated twice without a free between: the trace lost an entry.
                        bytes[(int)stale.Category] -= stale.Size;
                        allocated -= stale.Size;
                    }

                    blocks[e.Address] = (e.Size, c, e.Stack);
                    bytes[(int)c] += e.Size;
                    allocated += e.Size;
                    break;
                case TraceAction.FreeCompleted:
                    if (blocks.Remove(e.Address, out var freed))
                    {
                        bytes[(int)freed.Category] -= freed.Size;
                        allocated -= freed.Size;
                    }

                    break;
                case TraceAction.SegmentAlloc:
                    reserved += e.Size;
                    break;
                case TraceAction.SegmentFree:
                    reserved -= e.Size;
                    break;
                case TraceAction.Oom:
                    (int Step, Phase Phase, int, int) at = intervals[intervalOf[i]];
                    ooms.Add(new OutOfMemory(e.TimeUs, at.Step, at.Phase, e.Size, e.DeviceFree, allocated, FrameRules.SiteOf(snapshot.Stacks[e.Stack])));
                    break;
            }

            intervalPeak = Math.Max(intervalPeak, allocated);
            if (allocated > peak)
            {
                peak = allocated;
                peakReserved = reserved;
                peakTime = e.TimeUs;
                peakEvent = i;
            }

            strideMin = Math.Min(strideMin, allocated);
            strideMax = Math.Max(strideMax, allocated);
            if (i % stride == stride - 1 || i == trace.Count - 1)
            {
                // The lowest and the highest of each stride, so the thinned line keeps its spikes.
                timeline.Add((e.TimeUs, strideMin));
                timeline.Add((e.TimeUs, strideMax));
                strideMin = long.MaxValue;
                strideMax = long.MinValue;
            }

            if (intervals[intervalOf[i]].LastEvent == i)
            {
                var (s, p, firstEvent, _) = intervals[intervalOf[i]];
                long[] end = (long[])bytes.Clone();
                end[(int)MemoryCategory.AllocatorCache] = Math.Max(0, reserved - allocated);
                phases.Add(new ReplayedPhase(s, p, trace[firstEvent].TimeUs, e.TimeUs, end, allocated, intervalPeak));
                intervalPeak = allocated;
            }
        }

        // 6. What was live at the peak: replayed again up to it (cheaper than keeping every state).
        // (A peak before the first entry is the state recording began with: index -1 replays nothing.)
        var atPeak = LiveAt(peakEvent);
        Dictionary<ulong, (long Size, MemoryCategory Category, int Stack)> LiveAt(int index)
        {
            var state = new Dictionary<ulong, (long Size, MemoryCategory Category, int Stack)>();
            foreach ((ulong address, (long size, int stack)) in live)
            {
                state[address] = (size, stack != 0 && CategoryOfStack(stack) is { } named ? named : MemoryCategory.BeforeRecording, stack);
            }

            for (int i = 0; i <= index; i++)
            {
                TraceEvent e = trace[i];
                if (e.Action == TraceAction.Alloc)
                {
                    state[e.Address] = (e.Size, CategoryOfAlloc(i), e.Stack);
                }
                else if (e.Action == TraceAction.FreeCompleted)
                {
                    state.Remove(e.Address);
                }
            }

            return state;
        }

        var peakBytes = new long[categories];
        foreach (var b in atPeak.Values)
        {
            peakBytes[(int)b.Category] += b.Size;
        }

        peakBytes[(int)MemoryCategory.AllocatorCache] = Math.Max(0, peakReserved - peak);
        var sites = atPeak.Values
            .GroupBy(b => FrameRules.SiteOf(snapshot.Stacks[b.Stack]))
            .Select(g => new AllocationSite(
                g.Key,
                g.GroupBy(b => b.Category).MaxBy(c => c.Sum(b => b.Size))!.Key.ToName(),
                g.Sum(b => b.Size),
                g.Count()))
            .OrderByDescending(s => s.Bytes)
            .Take(10)
            .ToList();

        return new SnapshotReplay
        {
            Device = device.Device,
            Phases = phases,
            PeakAllocatedBytes = peak,
            PeakReservedBytes = peakReserved,
            PeakTimeUs = peakTime,
            PeakPhase = peakEvent < 0 ? 0 : intervalOf[peakEvent],
            PeakBytes = peakBytes,
            Sites = sites,
            OutOfMemory = ooms,
            AllocatedAtStart = atStart,
            Timeline = timeline,
            Events = trace.Count,
        };
    }
}
