using System.Diagnostics;
using Gputel.Core.Memory;
using Gputel.Core.Training;
using TrainingPhase = Gputel.Core.Training.Phase;
using static TorchSharp.torch;

namespace Gputel.Profiler.Memory;

/// <summary>
/// Accounts a training loop's memory by category. Attach it to the model and optimizer, wrap each
/// phase in <see cref="Phase"/>, and read a <see cref="MemorySnapshot"/> at the end of every phase.
/// Weights, gradients, optimizer state and inputs are known from the tensors (each storage counted
/// once, in that order of precedence); activations are what the allocator holds at the end of the
/// forward pass beyond those; temporary memory is a phase's peak above its start; the rest is
/// unattributed. CPU runs read glibc's allocator (<see cref="CpuAllocator"/>).
/// </summary>
public sealed class MemoryAccountant : IDisposable
{
    private readonly nn.Module _model;
    private readonly Func<IEnumerable<Tensor>> _optimizerState;
    private readonly IMemoryTruth _truth;
    private readonly long _baseline;
    private long _runtime;
    private Weights? _weights;
    private StorageSet? _phaseSet;
    private bool _runtimeSettled;
    private bool _runtimeConfirmed;
    private DeclaredTensors _inputs = DeclaredTensors.None;
    private DeclaredTensors _outputs = DeclaredTensors.None;
    private long _activations;
    private long? _gradients;
    private long? _optimizer;
    private readonly List<WeakReference<Tensor>> _stateCounted = [];
    private readonly List<Tensor> _stateListing = [];
    private bool _phaseOpen;
    private long? _transientBase;
    private long? _transientTop;
    private bool _probed;
    private long? _lastEndInUse;

    // Phases whose top the loop marked last time (BeginTransient, then SamplePeak): the loop's
    // structure repeats each step, so the truth can spare its own peak-finding there next time. A
    // phase that stops being marked has only its ends' reads for a peak that once, and gets the
    // truth's peak-finding back from its next start.
    private readonly HashSet<Phase> _probedPhases = [];
    private readonly long[] _categorized = new long[MemoryCategories.All.Count];

    /// <summary>
    /// Attaches to <paramref name="model"/>. <paramref name="optimizerState"/> lists the optimizer's
    /// state tensors on demand (they appear on the first step). The allocator baseline is taken now:
    /// attach before the model allocates anything the run should count, or pass <paramref name="baselineBytes"/>.
    /// <paramref name="runtimeBytes"/> is libtorch's own one-time memory within that baseline's growth
    /// (<see cref="LibtorchRuntime.Prime"/>), reported as <see cref="MemoryCategory.Runtime"/>.
    /// </summary>
    public MemoryAccountant(nn.Module model, Func<IEnumerable<Tensor>> optimizerState, long? baselineBytes = null, long runtimeBytes = 0, IMemoryTruth? truth = null)
    {
        _runtime = runtimeBytes;
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizerState);
        _model = model;
        _optimizerState = optimizerState;
        _truth = truth ?? new CpuMemoryTruth();
        _baseline = baselineBytes ?? _truth.InUse() ?? 0;
    }

    /// <summary>
    /// For the benchmark: where the accounting's time goes, in Stopwatch ticks per phase name: opening
    /// the scope (its start read), the end read, categorizing, logging the snapshot; and under
    /// <c>"marks"</c>, the reads the loop offers (<see cref="SamplePeak"/>, <see cref="BeginTransient"/>).
    /// Null, the default, times nothing.
    /// </summary>
    internal Dictionary<string, long[]>? Timings { get; set; }

    /// <summary>Snapshots taken so far, in order (kept compactly: see <see cref="MemorySnapshotLog"/>).</summary>
    public MemorySnapshotLog Snapshots { get; } = new();

    /// <summary>The allocator in-use bytes the figures are measured from.</summary>
    public long BaselineBytes => _baseline;

    /// <summary>
    /// Ends the first step: whatever the allocator still holds that no tensor owns is libtorch's
    /// per-shape state (kernel caches, thread buffers) set up by the first pass over these shapes,
    /// and counts as runtime from now on. Call it once, after the first step's tensors (batch,
    /// logits, loss) are released, so only what persists is measured; later steps show as
    /// unattributed only what grows beyond it. Call it once more after the second step: what the
    /// first step left and the second released is taken back out.
    /// </summary>
    public void SettleRuntime()
    {
        long unattributed = Categorize(AllocatorNow(), forwardGrowth: null)[(int)MemoryCategory.Unattributed];
        if (!_runtimeSettled)
        {
            _runtimeSettled = true;
            _runtime += Math.Max(0, unattributed);
        }
        else if (!_runtimeConfirmed)
        {
            // A second call, after the next step: part of what the first step left was only
            // released later (buffers freed on their second use); what is now missing was not
            // runtime after all.
            _runtimeConfirmed = true;
            _runtime = Math.Max(0, _runtime + Math.Min(0, unattributed));
        }
    }

    /// <summary>Declares the current batch's tensors (token ids, masks, labels).</summary>
    public void SetInputs(params Tensor[] inputs) => _inputs = new DeclaredTensors(inputs);

    /// <summary>
    /// Declares the forward pass's outputs the loop holds until the step ends (logits, loss). They
    /// count as activations in every phase: logits alone are batch x sequence x vocabulary floats,
    /// often the largest single tensor of a fine-tuning step.
    /// </summary>
    public void SetOutputs(params Tensor[] outputs) => _outputs = new DeclaredTensors(outputs);

    /// <summary>
    /// Starts a phase; disposing the returned scope ends it and records its snapshot. Phases do not
    /// nest. With <paramref name="continuesLast"/> the caller vouches that the phase begins where the
    /// last one ended, with nothing allocated in between that the accounting should see (a backward
    /// pass right after its forward pass, an optimizer step right after the last backward): its start
    /// is then the figure the last phase ended at, one allocator read less (a <c>mallinfo2</c> call on
    /// the CPU). Anything allocated in between would be missing from the phase's start: never for a
    /// forward pass after a new batch. Where no phase has ended yet, the start is read as usual.
    /// </summary>
    public PhaseScope Phase(int step, Phase phase, bool continuesLast = false) => new(this, step, phase, continuesLast);

    /// <summary>
    /// Records the allocator's figure now as a candidate for the current phase's peak: call it at a
    /// moment known to be a high-water mark that a sampler could miss (see <see cref="IMemoryTruth.SamplePeak"/>).
    /// After <see cref="BeginTransient"/> it also marks the top of the phase's temporaries, and the
    /// phase counts as one whose top the loop marks: from its next run the truth may spare its own
    /// ways of finding the peak there (<see cref="IMemoryTruth.BeginPhase"/>).
    /// </summary>
    public void SamplePeak()
    {
        // Paired with BeginTransient, the same read marks the top of the temporaries (measured from
        // the marked figure to this one, whatever the phase held before the mark) and the phase's
        // top; a read offered elsewhere (when the loss is computed) adds a figure, no more.
        long started = Timings is null ? 0 : Stopwatch.GetTimestamp();
        _probed |= _transientBase is not null;
        if (_truth.SamplePeak() is { } read && _transientBase is not null)
        {
            long now = read - _baseline;
            _transientTop = Math.Max(_transientTop ?? now, now);
        }

        Time("marks", 0, started);
    }

    /// <summary>
    /// Marks the moment the current phase's short-lived allocations begin (an optimizer about to walk
    /// its parameters); <see cref="SamplePeak"/> then marks their top. The phase's temporary memory
    /// is measured between the two rather than from the phase's start: memory the rest of the process
    /// releases in between (seen on busy machines: a few MB no tensor owns) would otherwise be taken
    /// out of the temporaries, or, released after the peak, added to them. Outside a phase it does
    /// nothing; a second mark in the same phase is ignored.
    /// </summary>
    public void BeginTransient()
    {
        if (_phaseOpen && _transientBase is null)
        {
            long started = Timings is null ? 0 : Stopwatch.GetTimestamp();
            _transientBase = AllocatorNow();
            Time("marks", 0, started);
        }
    }

    /// <summary>Adds the ticks since <paramref name="started"/> to a <see cref="Timings"/> slot; returns now.</summary>
    private long Time(string phase, int slot, long started)
    {
        if (Timings is not { } timings)
        {
            return 0;
        }

        long now = Stopwatch.GetTimestamp();
        if (!timings.TryGetValue(phase, out long[]? ticks))
        {
            timings[phase] = ticks = new long[4];
        }

        ticks[slot] += now - started;
        return now;
    }

    /// <summary>
    /// Bytes per category right now (no allocator peak), with activations as last measured. The array
    /// is the accountant's own, reused by the next call: read it before then.
    /// </summary>
    internal long[] Categorize(long allocatorBytes, long? forwardGrowth, TrainingPhase? phase = null)
    {
        long[] bytes = _categorized;
        Array.Clear(bytes);
        // Parameters and buffers keep their storages for the whole run (a method is applied before
        // the accountant attaches): counted once, then each phase starts from that set.
        _weights ??= CountWeights();
        StorageSet seen = _phaseSet ??= new StorageSet(_weights.Storages, _weights.Bytes);
        seen.Restart();
        bytes[(int)MemoryCategory.Weights] = _weights.Bytes;
        // Gradients change only in backward and zero_grad, optimizer state only in the optimizer
        // step: elsewhere the last figures stand, which spares a walk over every parameter (a few
        // microseconds warm, tens with the caches cold after a phase's compute).
        if (_gradients is null || (phase != TrainingPhase.Forward && phase != TrainingPhase.OptimizerStep))
        {
            _gradients = ClaimGradients(seen, _weights.Parameters);
        }

        if (_optimizer is null || phase is null || phase == TrainingPhase.OptimizerStep)
        {
            _optimizer = CountOptimizerState(seen);
        }

        bytes[(int)MemoryCategory.Gradients] = _gradients.Value;
        bytes[(int)MemoryCategory.OptimizerState] = _optimizer.Value;
        bytes[(int)MemoryCategory.Inputs] = _inputs.ClaimIn(seen);
        long outputs = _outputs.ClaimIn(seen);
        // A caching allocator's reserve beyond what is in use, and what the device holds for the
        // process beyond the allocator's reserve (CUDA context, library workspaces), where known.
        long? reserved = _truth.Reserved() - _baseline;
        long cache = reserved is { } r ? Math.Max(0, r - allocatorBytes) : 0;
        long deviceRuntime = _truth.ProcessDevice() is { } device && reserved is { } r2 ? Math.Max(0, device - r2 - _baseline) : 0;
        bytes[(int)MemoryCategory.AllocatorCache] = cache;
        bytes[(int)MemoryCategory.Runtime] = _runtime + deviceRuntime;
        long known = bytes[(int)MemoryCategory.Weights] + bytes[(int)MemoryCategory.Gradients] + bytes[(int)MemoryCategory.OptimizerState]
            + bytes[(int)MemoryCategory.Inputs] + _runtime;
        if (forwardGrowth is { } growth)
        {
            // What the forward pass allocated and left alive (saved tensors and outputs) is what
            // backward will consume. Measured as the phase's own growth, so an error in any other
            // figure shows as unattributed instead of hiding inside the activations.
            _activations = Math.Max(0, growth);
        }

        bytes[(int)MemoryCategory.Activations] = forwardGrowth is null ? outputs : _activations;
        bytes[(int)MemoryCategory.Unattributed] = allocatorBytes - known - bytes[(int)MemoryCategory.Activations];
        return bytes;
    }

    /// <summary>
    /// Each parameter's gradient storage, read without a managed wrapper: a wrapper left to the
    /// garbage collector would keep a gradient alive after <c>zero_grad</c> and the accounting would
    /// change what it measures, and making one per parameter per phase was most of the walk's cost.
    /// </summary>
    private static long ClaimGradients(StorageSet seen, Tensor[] parameters)
    {
        long bytes = 0;
        foreach (Tensor parameter in parameters)
        {
            bytes += seen.ClaimGradientOf(parameter);
        }

        return bytes;
    }

    /// <summary>
    /// The optimizer state's bytes. Optimizers update their state in place, so at the end of each
    /// step the same tensors come back; then the last count stands, and no storage is read (two
    /// native calls per tensor, with the caches cold after the step: most of what the optimizer
    /// step's categorization cost). A tensor replaced (AdamW with AMSGrad makes a new maximum each
    /// step), added or disposed changes the list and has everything counted afresh. The tensors are
    /// held by weak references, so the accounting never keeps one alive that the optimizer dropped,
    /// and are compared as objects, not by native handle: a freed handle's address comes back for
    /// the next tensor made. A tensor whose storage is swapped in place (<c>set_</c>) keeps its
    /// last size; no TorchSharp optimizer does that. A kept count does not claim the state's
    /// storages again, so an input sharing one would be counted twice; none does.
    /// </summary>
    private long CountOptimizerState(StorageSet seen)
    {
        _stateListing.Clear();
        bool same = _optimizer is not null;
        foreach (Tensor? tensor in _optimizerState())
        {
            // A listing may hold state not made yet (SGD's momentum before its first step).
            if (tensor is null)
            {
                continue;
            }

            _stateListing.Add(tensor);
            int at = _stateListing.Count - 1;
            same &= at < _stateCounted.Count && !tensor.IsInvalid
                && _stateCounted[at].TryGetTarget(out Tensor? counted) && ReferenceEquals(counted, tensor);
        }

        same &= _stateListing.Count == _stateCounted.Count;
        long bytes = same ? _optimizer!.Value : seen.ClaimAll(_stateListing);
        if (!same)
        {
            for (int i = 0; i < _stateListing.Count; i++)
            {
                if (i < _stateCounted.Count)
                {
                    _stateCounted[i].SetTarget(_stateListing[i]);
                }
                else
                {
                    _stateCounted.Add(new WeakReference<Tensor>(_stateListing[i]));
                }
            }

            _stateCounted.RemoveRange(_stateListing.Count, _stateCounted.Count - _stateListing.Count);
        }

        _stateListing.Clear();
        return bytes;
    }

    /// <summary>
    /// The weights' storages and bytes, and the parameters whose gradients each phase end looks up:
    /// listing them walks the module tree and allocates, so it is done once, at the first phase end.
    /// Parameters replaced after that (a training method applied mid-run) are not followed: apply
    /// methods before the first phase.
    /// </summary>
    private Weights CountWeights()
    {
        var set = new StorageSet();
        Tensor[] parameters = [.. _model.parameters()];
        set.ClaimAll(parameters);
        set.ClaimAll(_model.buffers());
        return new Weights(set.Storages, set.Bytes, parameters);
    }

    private sealed record Weights(HashSet<IntPtr> Storages, long Bytes, Tensor[] Parameters);

    /// <summary>
    /// Tensors the loop declared (a batch, a forward pass's outputs), with their storages read once:
    /// they are claimed at every phase end until declared again, and each storage read is two native
    /// calls, with the caches cold after a phase's compute. A tensor disposed since is skipped; one
    /// resized or given another storage in place (<c>resize_</c>, <c>set_</c>) keeps its first size,
    /// which no training loop's batch or outputs do.
    /// </summary>
    private sealed class DeclaredTensors(Tensor[]? tensors)
    {
        public static readonly DeclaredTensors None = new([]);
        private readonly Tensor[] _tensors = tensors ?? [];
        private (IntPtr Address, long Bytes)[]? _storages;

        public long ClaimIn(StorageSet seen)
        {
            _storages ??= Array.ConvertAll(_tensors, t => t is null || t.IsInvalid ? (IntPtr.Zero, 0L) : NativeStorage.Of(t));
            long bytes = 0;
            for (int i = 0; i < _tensors.Length; i++)
            {
                if (_tensors[i] is { IsInvalid: false })
                {
                    bytes += seen.Add(_storages[i].Address, _storages[i].Bytes);
                }
            }

            return bytes;
        }
    }

    internal long AllocatorNow() => (_truth.InUse() ?? _baseline) - _baseline;

    internal void Start(Phase phase, bool continuesLast)
    {
        _truth.BeginPhase(phase, _probedPhases.Contains(phase), continuesLast ? _lastEndInUse : null);
        _phaseOpen = true;
        _probed = false;
        _transientBase = null;
        _transientTop = null;
    }

    /// <summary>
    /// Ends the phase's marks: the figure its temporaries rise from and the top they reached, where
    /// <see cref="BeginTransient"/> and <see cref="SamplePeak"/> marked them. Called before anything
    /// at the phase's end walks the optimizer's parameters again (its state listing does).
    /// </summary>
    internal (long? Base, long? Top) EndTransient(Phase phase)
    {
        _phaseOpen = false;
        if (_probed)
        {
            _probedPhases.Add(phase);
        }
        else
        {
            _probedPhases.Remove(phase);
        }

        (long? Base, long? Top) marks = (_transientBase, _transientTop);
        _transientBase = _transientTop = null;
        return marks;
    }

    internal long AllocatorAtStart() => (_truth.InUseAtPhaseStart() ?? _baseline) - _baseline;

    internal long AllocatorAtEnd()
    {
        _lastEndInUse = _truth.InUseAtPhaseEnd();
        return (_lastEndInUse ?? _baseline) - _baseline;
    }

    internal long StopPeak() => (_truth.EndPhasePeak() ?? _truth.InUse() ?? _baseline) - _baseline;

    /// <inheritdoc />
    public void Dispose() => _truth.Dispose();

    /// <summary>One phase of one step; disposing it records the snapshot.</summary>
    public sealed class PhaseScope : IDisposable
    {
        private readonly MemoryAccountant _owner;
        private readonly int _step;
        private readonly Phase _phase;
        private readonly long _start;
        private readonly long _startBytes;
        private bool _ended;

        internal PhaseScope(MemoryAccountant owner, int step, Phase phase, bool continuesLast)
        {
            _owner = owner;
            _step = step;
            _phase = phase;
            _start = Stopwatch.GetTimestamp();
            owner.Start(phase, continuesLast);
            _startBytes = owner.AllocatorAtStart();
            owner.Time(phase.Name, 0, _start);
        }

        /// <summary>Ends the phase and records its snapshot.</summary>
        public void Dispose()
        {
            if (_ended)
            {
                return;
            }

            _ended = true;
            long ending = Stopwatch.GetTimestamp();
            double seconds = Stopwatch.GetElapsedTime(_start, ending).TotalSeconds;
            long peak = Math.Max(_owner.StopPeak(), _startBytes);
            long now = _owner.AllocatorAtEnd();
            peak = Math.Max(peak, now);
            (long? mark, long? top) = _owner.EndTransient(_phase);
            long read = _owner.Time(_phase.Name, 1, ending);
            long[] bytes = _owner.Categorize(now, _phase == TrainingPhase.Forward ? now - _startBytes : null, _phase);
            long categorized = _owner.Time(_phase.Name, 2, read);
            // Temporaries sit on top of the phase's larger end; where the loop marked when they begin
            // and where they top out, they are measured between the two marks, so memory released
            // elsewhere in the phase neither hides part of them nor passes for them.
            bytes[(int)MemoryCategory.Temporary] = (mark, top) switch
            {
                ({ } b, { } t) => Math.Max(0, t - Math.Max(b, now)),
                ({ } b, null) => Math.Max(0, peak - Math.Max(b, now)),
                _ => Math.Max(0, peak - Math.Max(_startBytes, now)),
            };
            // Temporary memory was freed by the end of the phase: it is part of the peak, not of the
            // end-of-phase total, so the categories still add up to the allocator's figure.
            _owner.Snapshots.Add(_step, _phase, bytes, now, peak, seconds);
            _owner.Time(_phase.Name, 3, categorized);
        }
    }
}
