using System.Diagnostics;
using System.Globalization;
using Gputel.Core.Reports;
using Gputel.Core.Snapshots;
using Gputel.Core.Training;
using Gputel.Tests.Support;

namespace Gputel.Core.Tests.Snapshots;

/// <summary>The two real snapshots of ../shared/reference/pytorch-snapshots, against an independent replay.</summary>
public sealed class RealSnapshotTests
{
    public static TheoryData<string> Files => ["transformer-lm-adamw-fullstep.pickle", "cnn-training.pickle"];

    private static string PathOf(string name)
    {
        string path = Path.Combine(Repo.Root, "..", "shared", "reference", "pytorch-snapshots", name);
        Assert.SkipUnless(File.Exists(path), $"the reference snapshot {name} is not beside the repository (../shared/reference/pytorch-snapshots)");
        return path;
    }

    // Written apart from the product: Python's own pickle reads the file, the blocks in use at the
    // end are walked back over the trace to the start, and the trace is replayed for the peak.
    private const string IndependentReplay = """
        import pickle, sys
        s = pickle.load(open(sys.argv[1], 'rb'))
        best = None
        for d, trace in enumerate(s['device_traces']):
            live = {b['address']: b['size'] for seg in s['segments'] if seg['device'] == d for b in seg['blocks'] if b['state'].startswith('active')}
            for e in reversed(trace):
                if e['action'] == 'alloc': live.pop(e['addr'], None)
                elif e['action'] in ('free_completed', 'free'): live[e['addr']] = e['size']
            now = sum(live.values()); peak = now
            for e in trace:
                if e['action'] == 'alloc':
                    now += e['size']; live[e['addr']] = e['size']
                elif e['action'] in ('free_completed', 'free') and e['addr'] in live:
                    now -= live.pop(e['addr'])
                peak = max(peak, now)
            if best is None or peak > best: best = peak
        print(best)
        """;

    [Theory]
    [MemberData(nameof(Files))]
    public void The_peak_is_the_one_an_independent_replay_finds(string name)
    {
        string path = PathOf(name);
        string? python = Environment.GetEnvironmentVariable("PATH")?.Split(':').Select(d => Path.Combine(d, "python3")).FirstOrDefault(File.Exists);
        Assert.SkipWhen(python is null, "python3 is not installed: the independent replay runs in Python");
        var psi = new ProcessStartInfo(python!) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(IndependentReplay);
        psi.ArgumentList.Add(path);
        using Process p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, p.StandardError.ReadToEnd());
        long expected = long.Parse(output.Trim(), CultureInfo.InvariantCulture);

        RunSummary summary = RunReport.ReadSnapshot(path).Summary;

        Assert.Equal(expected, summary.Peak!.AllocatorBytes);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void The_categories_add_up_to_the_peak_and_training_phases_are_found(string name)
    {
        RunSummary summary = RunReport.ReadSnapshot(PathOf(name)).Summary;
        PhaseMemory peak = summary.Peak!;

        Assert.Equal(peak.TotalBytes, peak.Bytes.Values.Sum());
        Assert.All(peak.Bytes.Values, b => Assert.True(b >= 0));
        // In use at the peak, excluding the cache, is what the replay found in use.
        Assert.Equal(peak.AllocatorBytes, peak.TotalBytes - peak.Bytes["allocator_cache"]);
        // Both are training loops: forward, backward and an optimizer step, found from frames.
        Assert.Contains(Phase.Forward, summary.Phases);
        Assert.Contains(Phase.Backward, summary.Phases);
        Assert.Contains(Phase.OptimizerStep, summary.Phases);
        Assert.True(peak.Bytes["gradients"] > 0);
        Assert.True(peak.Bytes["optimizer_state"] > 0);
        Assert.NotEmpty(summary.AllocationSites);
        Assert.True(summary.AllocationSites.Sum(s => s.Bytes) <= peak.AllocatorBytes);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void The_one_pass_reader_reads_what_a_general_unpickler_reads(string name)
    {
        string path = PathOf(name);
        object? general;
        using (var unpickler = new Razorvine.Pickle.Unpickler())
        using (FileStream stream = File.OpenRead(path))
        {
            general = unpickler.load(stream);
        }

        CudaSnapshot expected = SnapshotReader.FromPickle(general, path), actual = SnapshotReader.Read(path);

        Assert.Equal(expected.Stacks.Count, actual.Stacks.Count);
        for (int s = 0; s < expected.Stacks.Count; s++)
        {
            Assert.Equal(expected.Stacks[s], actual.Stacks[s]);
        }

        Assert.Equal(expected.Devices.Count, actual.Devices.Count);
        for (int d = 0; d < expected.Devices.Count; d++)
        {
            Assert.Equal(expected.Devices[d].Trace, actual.Devices[d].Trace);
            Assert.Equal(expected.Devices[d].LiveAtEnd, actual.Devices[d].LiveAtEnd);
            Assert.Equal(expected.Devices[d].ReservedAtEnd, actual.Devices[d].ReservedAtEnd);
            Assert.Equal(expected.Devices[d].Annotations, actual.Devices[d].Annotations);
        }

        Assert.Equal(expected.AllocatorSettings, actual.AllocatorSettings);
    }
}
