using System.Diagnostics;
using Gputel.Core.Model;
using Gputel.Core.Training;
using Gputel.Profiler.Data;
using Gputel.Profiler.Memory;
using Gputel.Profiler.Model;
using Gputel.Profiler.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gputel.Bench.Profiler;

/// <summary>
/// The reference fine-tuning step of <c>FineTuneRun</c> (forward, backward, optimizer step,
/// zero_grad inside a dispose scope, then the per-step <c>GC.Collect</c>), with gradient
/// accumulation 1 and synthetic batches, run with or without a <see cref="MemoryAccountant"/>.
/// Both ways share one model, optimizer and batch sequence, so only the hooks differ.
/// </summary>
internal sealed class TrainingLoop : IDisposable
{
    /// <summary>The four phases, in the order a step runs them.</summary>
    public static readonly IReadOnlyList<Phase> Phases = Phase.All;

    private readonly DecoderModel _model;
    private readonly OptimizerHelper _optimizer;
    private readonly BenchShape _shape;
    private readonly PeakProbeParameters _group;
    private MemoryAccountant? _probeTarget;
    private readonly long _seed;
    private int _step;

    public TrainingLoop(BenchShape shape, long seed)
    {
        _shape = shape;
        _seed = seed;
        BaselineBytes = CpuAllocator.InUseBytes() ?? 0;
        manual_seed(seed);
        _model = new DecoderModel(shape.Shape);
        _model.TrainAll();
        Trainable = _model.TrainableParameters().ToList();
        // As FineTuneRun: the optimizer walks its parameters through the peak probe, armed around
        // optimizer.step() when an accountant is attached (both ways walk the same enumerable).
        _group = new PeakProbeParameters(Trainable, () => _probeTarget?.SamplePeak(), () => _probeTarget?.BeginTransient());
        _optimizer = optim.AdamW(_group, lr: 1e-4);
    }

    /// <summary>Allocator in-use bytes before the model was built (the accountant's baseline).</summary>
    public long BaselineBytes { get; }

    public IReadOnlyList<Parameter> Trainable { get; }

    /// <summary>Stopwatch ticks spent so far in the per-step collection (both ways).</summary>
    public long CollectTicks { get; private set; }

    public DecoderModel Model => _model;

    public OptimizerHelper Optimizer => _optimizer;

    /// <summary>An accountant attached as <c>FineTuneRun</c> attaches it.</summary>
    public MemoryAccountant Attach(long runtimeBytes) =>
        new(_model, () => OptimizerStateTensors.Of(_optimizer), BaselineBytes, runtimeBytes);

    /// <summary>
    /// One training step; returns its wall time in seconds. With an accountant, each phase is
    /// wrapped in its <c>Phase</c> scope and <paramref name="scopeTicks"/> (one slot per phase)
    /// gains the Stopwatch ticks spent opening and closing that scope, the accounting itself.
    /// </summary>
    public double Step(MemoryAccountant? accountant, long[]? scopeTicks, bool keepGradients = false)
    {
        long started = Stopwatch.GetTimestamp();
        int step = _step++;
        using (NewDisposeScope())
        {
            (Tensor ids, Tensor labels) = TrainingBatches.Synthetic(_shape.BatchSize, _shape.SequenceLength, (int)_shape.Shape.VocabSize, _seed + step);
            accountant?.SetInputs(ids, labels);
            Tensor loss;
            // As FineTuneRun: the accountant reads the loss's peak when the loss is computed.
            _model.LossComputed = accountant is null ? null : accountant.SamplePeak;
            using (TimedPhase.Open(accountant, step, 0, scopeTicks))
            {
                CausalLmOutput output = _model.call(ids, labels);
                loss = output.Loss!;
                accountant?.SetOutputs(output.Logits, loss);
            }

            _ = loss.item<float>();
            using (TimedPhase.Open(accountant, step, 1, scopeTicks))
            {
                loss.backward();
            }

            using (TimedPhase.Open(accountant, step, 2, scopeTicks))
            {
                _probeTarget = accountant;
                _group.Armed = accountant is not null;
                try
                {
                    _optimizer.step();
                }
                finally
                {
                    _group.Armed = false;
                    _probeTarget = null;
                }
            }

            if (!keepGradients)
            {
                using (TimedPhase.Open(accountant, step, 3, scopeTicks))
                {
                    _model.zero_grad(set_to_none: true);
                }
            }
        }

        // As FineTuneRun: release TorchSharp's finalizer-only scalar wrappers every step.
        long collect = Stopwatch.GetTimestamp();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        CollectTicks += Stopwatch.GetTimestamp() - collect;
        return Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    /// <summary>Clears the gradients a <c>keepGradients</c> step left.</summary>
    public void ZeroGrad() => _model.zero_grad(set_to_none: true);

    public void Dispose()
    {
        _optimizer.Dispose();
        _model.Dispose();
    }

    /// <summary>A phase scope that records how long opening and closing it took.</summary>
    private sealed class TimedPhase : IDisposable
    {
        private readonly MemoryAccountant.PhaseScope _scope;
        private readonly long[] _ticks;
        private readonly int _index;

        private TimedPhase(MemoryAccountant accountant, int step, int index, long[] ticks)
        {
            _ticks = ticks;
            _index = index;
            long t0 = Stopwatch.GetTimestamp();
            _scope = accountant.Phase(step, Phases[index], continuesLast: index > 0);
            _ticks[index] += Stopwatch.GetTimestamp() - t0;
        }

        public static IDisposable? Open(MemoryAccountant? accountant, int step, int index, long[]? ticks)
        {
            if (accountant is null)
            {
                return null;
            }

            // As FineTuneRun: the phases after forward start where the last one ended.
            return ticks is null ? accountant.Phase(step, Phases[index], continuesLast: index > 0) : new TimedPhase(accountant, step, index, ticks);
        }

        public void Dispose()
        {
            long t0 = Stopwatch.GetTimestamp();
            _scope.Dispose();
            _ticks[_index] += Stopwatch.GetTimestamp() - t0;
        }
    }
}

/// <summary>A model shape and batch the benchmark trains.</summary>
internal sealed record BenchShape(string Key, string Name, ModelShape Shape, int BatchSize, int SequenceLength);
