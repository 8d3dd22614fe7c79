using System.Globalization;
using Gputel.Core.Memory;
using Gputel.Core.Records;
using Gputel.Core.Reports;
using Gputel.Core.Training;

namespace Gputel.Core.Snapshots;

/// <summary>
/// A PyTorch memory snapshot as the report reads a run: its replayed phases become phase lines, its
/// bytes in use over time the sampled line, and the peak is the replayed one, exact, with the
/// categories and allocation sites of the blocks in use at that moment.
/// </summary>
public static class SnapshotAnalysis
{
    /// <summary>What <see cref="RunSummary.Source"/> says of a snapshot's report.</summary>
    public const string Source = "pytorch_snapshot";

    /// <summary>
    /// Replays <paramref name="snapshot"/> (the device given, or the one whose peak is highest) and
    /// returns the record the report draws and the summary it writes.
    /// </summary>
    /// <exception cref="InvalidDataException">The snapshot has no such device, or nothing to replay.</exception>
    public static (RunRecordReader Record, RunSummary Summary) Summarize(string path, CudaSnapshot snapshot, int? device = null)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (snapshot.Devices.Count == 0 || snapshot.Devices.All(d => d.Trace.Count == 0 && d.LiveAtEnd.Count == 0))
        {
            throw new InvalidDataException($"{path} holds no allocation: record it with torch.cuda.memory._record_memory_history() before the steps you want to see");
        }

        var warnings = new List<string>();
        SnapshotReplay replay;
        if (device is { } wanted)
        {
            DeviceSnapshot d = snapshot.Devices.FirstOrDefault(x => x.Device == wanted)
                ?? throw new InvalidDataException($"{path} has no device {wanted} (it has {string.Join(", ", snapshot.Devices.Select(x => x.Device))})");
            replay = SnapshotReplay.Run(snapshot, d);
        }
        else
        {
            var all = snapshot.Devices.Select(d => SnapshotReplay.Run(snapshot, d)).ToList();
            replay = all.MaxBy(r => r.PeakAllocatedBytes)!;
            if (all.Count > 1)
            {
                warnings.Add($"the snapshot has {all.Count} devices; this report is of cuda:{replay.Device}, whose peak is highest");
            }
        }

        if (replay.Events == 0)
        {
            warnings.Add("the snapshot has no trace (record_memory_history was off): only the state at the end is known, so there are no phases and the peak is that state");
        }

        if (replay.AllocatedAtStart > 0)
        {
            warnings.Add($"{ByteText.Format(replay.AllocatedAtStart)} was in use before recording began: shown as before_recording where no recorded stack names it (weights and optimizer state, usually); record from before the model is loaded to have it named");
        }

        foreach (OutOfMemory oom in replay.OutOfMemory)
        {
            warnings.Add(string.Create(CultureInfo.InvariantCulture,
                $"out of memory at step {oom.Step}, {oom.Phase}: {ByteText.Format(oom.RequestedBytes)} asked for with {ByteText.Format(oom.AllocatedBytes)} in use{(oom.DeviceFreeBytes > 0 ? $" and {ByteText.Format(oom.DeviceFreeBytes)} free on the device" : string.Empty)}, at {oom.Site}"));
        }

        ComputeDevice cuda = ComputeDevice.Cuda(replay.Device);
        DateTimeOffset origin = replay.Phases.Count > 0 && replay.Phases[0].StartUs > 0 ? FromUs(replay.Phases[0].StartUs) : DateTimeOffset.UnixEpoch;
        var steps = replay.Phases.Select(p => new StepLine(
            p.EndUs > 0 ? FromUs(p.EndUs) : origin,
            p.Step,
            p.Phase,
            Math.Max(0, (p.EndUs - p.StartUs) / 1e6),
            Named(p.Bytes),
            p.AllocatedBytes,
            p.PeakBytes,
            null)).ToList();
        var samples = replay.Timeline.Where(t => t.TimeUs > 0).Select(t => new SampleLine(FromUs(t.TimeUs), replay.Device, t.Bytes, null)).ToList();
        var settings = new Dictionary<string, string>(snapshot.AllocatorSettings, StringComparer.Ordinal)
        {
            ["source"] = "PyTorch memory snapshot (torch.cuda.memory._dump_snapshot)",
            ["trace_entries"] = replay.Events.ToString(CultureInfo.InvariantCulture),
        };
        var info = new RunInfo(Path.GetFileName(path), "unknown", "unknown", "unknown", cuda, origin, settings, new Dictionary<string, string>());
        int lastStep = steps.Count == 0 ? 0 : steps[^1].Step;
        var end = new RunEnd(steps.Count > 0 ? steps[^1].Time : origin, lastStep + 1, lastStep + 1, Cancelled: false, replay.OutOfMemory.Count > 0 ? "out of memory" : null);
        RunRecordReader record = RunRecordReader.FromLines(path, info, end, steps, samples, []);
        RunSummary summary = RunAnalysis.Summarize(record);

        PhaseMemory? peak = null;
        if (replay.Phases.Count > 0 || replay.PeakAllocatedBytes > 0)
        {
            ReplayedPhase at = replay.Phases.Count > 0 ? replay.Phases[replay.PeakPhase] : new ReplayedPhase(0, Phase.Forward, 0, 0, replay.PeakBytes, replay.PeakAllocatedBytes, replay.PeakAllocatedBytes);
            IReadOnlyDictionary<string, long> bytes = Named(replay.PeakBytes);
            peak = new PhaseMemory(at.Step, at.Phase, bytes.Values.Sum(), replay.PeakAllocatedBytes, replay.PeakAllocatedBytes, bytes, AtPeakItself: true);
        }

        // The run-record rules that do not apply to a snapshot: no configuration to estimate, and the
        // status of a recording rather than of a training process.
        // The peak's own warnings are those of the exact peak, not of a phase's end.
        warnings.AddRange(summary.Warnings.Where(w => !w.StartsWith("no estimate", StringComparison.Ordinal) && !w.Contains("at the peak (step", StringComparison.Ordinal)));
        if (peak is not null)
        {
            warnings.AddRange(RunAnalysis.PeakWarnings(peak, onGpu: true));
        }

        summary = summary with
        {
            Peak = peak,
            TopConsumers = peak is null ? [] : RunAnalysis.TopConsumers(peak),
            Estimate = null,
            Status = replay.OutOfMemory.Count > 0 ? RunStatus.Failed : RunStatus.Complete,
            StatusDetail = replay.OutOfMemory.Count > 0
                ? $"the recording holds {replay.OutOfMemory.Count} failed allocation(s) (out of memory); see the warnings"
                : $"a recording of {replay.Events} allocator events over {summary.Steps} step(s)",
            Warnings = warnings,
        };
        summary = summary with { Source = Source, AllocationSites = replay.Sites, OutOfMemory = replay.OutOfMemory };
        return (record, summary);
    }

    private static DateTimeOffset FromUs(long us) => DateTimeOffset.UnixEpoch.AddTicks(us * 10);

    // The nine categories of a run record always, so reports of the two line up; the snapshot-only
    // ones where they hold anything.
    private static Dictionary<string, long> Named(long[] bytes)
    {
        var named = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (CategoryInfo row in MemoryCategories.Table)
        {
            long b = bytes[(int)row.Category];
            if (row.InRunRecords || b != 0)
            {
                named[row.Name] = b;
            }
        }

        return named;
    }
}
