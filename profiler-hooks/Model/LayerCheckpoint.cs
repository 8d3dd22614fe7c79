using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gputel.Profiler.Model;

/// <summary>
/// Gradient checkpointing of one decoder layer: the forward keeps only the layer's input, the
/// backward re-runs the layer with autograd on and differentiates it. The layer's trainable
/// parameters are inputs of the autograd node, so their gradients flow even when the layer input
/// does not require grad (LoRA on a frozen embedding), which PyTorch's re-entrant variant misses.
/// Hooks on the layer's modules fire again during the recomputation, as in PyTorch. As in PyTorch,
/// a layer that draws random numbers (LoRA dropout &gt; 0) is recomputed from the CPU generator's
/// state its forward pass started from, so the recomputation draws the same dropout masks and the
/// gradients are those of the loss that was computed.
/// Each layer's input is released as its backward ends, so a graph cannot be differentiated twice
/// (<c>retain_graph</c>): the second backward throws. The reference workload differentiates each
/// graph once.
/// </summary>
internal sealed class LayerCheckpoint : autograd.SingleTensorFunction<LayerCheckpoint>
{
    private const string LayerKey = "layer";
    private const string TrainableKey = "trainable";
    private const string InputRequiresGradKey = "inputRequiresGrad";
    private const string InputKey = "input";
    private const string RandomStateKey = "rng";

    // Gradients handed back to the native autograd engine: it takes its own reference when this
    // backward returns, so ours can go then. Left to a dispose scope they would live until the
    // training step ends, a second copy of the layer's gradients through the optimizer step.
    [ThreadStatic]
    private static List<Tensor>? _returned;

    // Argument order of apply: the layer, then the tensors; backward returns one gradient per argument.
    private const int FirstParameterArgument = 4;

    /// <inheritdoc/>
    public override string Name => nameof(LayerCheckpoint);

    /// <summary>Runs <paramref name="layer"/> on <paramref name="hidden"/> without keeping its activations for backward.</summary>
    public static Tensor Run(DecoderLayer layer, Tensor hidden, RotaryAngles angles)
    {
        Parameter[] trainable = [.. layer.parameters().Where(p => p.requires_grad)];
        if (trainable.Length == 0 && !hidden.requires_grad)
        {
            // A frozen layer under a frozen prefix records no graph: nothing to recompute, and an
            // input kept for a backward that never comes would wait for the finalizer.
            return layer.call(hidden, angles);
        }

        object[] arguments = [layer, hidden, angles.Cos, angles.Sin, .. trainable];
        return apply(arguments);
    }

    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var layer = (DecoderLayer)vars[0];
        var hidden = (Tensor)vars[1];
        var angles = new RotaryAngles((Tensor)vars[2], (Tensor)vars[3]);
        // The layer's input is kept through a handle of our own, not save_for_backward: TorchSharp
        // releases saved variables only when the node itself goes, which the graph's chain of saved
        // layer outputs delays to the end of the step, so every layer's input would outlive its
        // backward. A detached alias also keeps no hold on the previous layer's node.
        ctx.save_data(InputKey, new SavedInput(hidden.detach().DetachFromDisposeScope()));
        ctx.save_for_backward([angles.Cos, angles.Sin]);
        ctx.save_data(LayerKey, layer);
        ctx.save_data(TrainableKey, vars[FirstParameterArgument..].Cast<Parameter>().ToArray());
        ctx.save_data(InputRequiresGradKey, hidden.requires_grad);
        // The generator's state (5 KB) where the layer draws random numbers, for the recomputation.
        bool drawsRandomNumbers = layer.modules().OfType<LoraLinear>().Any(l => l.DrawsRandomNumbers);
        ctx.save_data(RandomStateKey, new SavedInput(drawsRandomNumbers ? random.get_rng_state().DetachFromDisposeScope() : null));
        // TorchSharp runs this with autograd off, so no activations of the layer are kept.
        return layer.call(hidden, angles);
    }

    /// <summary>
    /// Releases this thread's references to gradients already handed to the autograd engine. Call
    /// it after <c>backward()</c> returns; the next checkpointed backward also calls it.
    /// </summary>
    public static void ReleaseReturnedGradients()
    {
        if (_returned is null)
        {
            return;
        }

        foreach (var grad in _returned)
        {
            grad.Dispose();
        }

        _returned.Clear();
    }

    /// <inheritdoc/>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        ReleaseReturnedGradients();
        // Inside the scope: handles to the saved tensors taken outside it would live as long as the
        // training step's scope, keeping every layer's input alive to the end of the step.
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        var layer = (DecoderLayer)ctx.get_data(LayerKey);
        var trainable = (Parameter[])ctx.get_data(TrainableKey);
        bool inputRequiresGrad = (bool)ctx.get_data(InputRequiresGradKey);
        using Tensor keptInput = ((SavedInput)ctx.get_data(InputKey)).Take();

        using Tensor? forwardState = ((SavedInput)ctx.get_data(RandomStateKey)).TakeOrNull();

        // The autograd engine calls backward with grad mode off.
        using var gradMode = enable_grad();
        var input = keptInput.detach().requires_grad_(inputRequiresGrad);
        Tensor output;
        if (forwardState is null)
        {
            output = layer.call(input, new RotaryAngles(saved[0], saved[1]));
        }
        else
        {
            // Replayed, then the generator is put back where backward found it: the next step's
            // masks do not repeat this layer's.
            using Tensor backwardState = random.get_rng_state();
            random.set_rng_state(forwardState);
            try
            {
                output = layer.call(input, new RotaryAngles(saved[0], saved[1]));
            }
            finally
            {
                random.set_rng_state(backwardState);
            }
        }

        List<Tensor> differentiateBy = inputRequiresGrad ? [input, .. trainable] : [.. trainable];
        var grads = autograd.grad([output], differentiateBy, [grad_output]);
        _returned ??= [];
        foreach (var grad in grads)
        {
            // The native side takes the returned tensors after this method returns: out of every
            // dispose scope until then, released by the next backward or ReleaseReturnedGradients.
            grad.DetachFromDisposeScope();
            _returned.Add(grad);
        }

        // TorchSharp hands grad_output over as a new handle in the caller's dispose scope, which is
        // the training step's: the engine keeps its own reference, so ours goes now.
        grad_output.Dispose();
        Tensor? inputGrad = inputRequiresGrad ? grads[0] : null;
        List<Tensor> result = [null!, inputGrad!, null!, null!];
        result.AddRange(grads.Skip(inputRequiresGrad ? 1 : 0));
        return result;
    }

    /// <summary>
    /// The layer's input (or the generator's state) between forward and backward. <see cref="Take"/> hands it over once, to the
    /// backward that reads it and releases it when that layer's backward ends; a forward never
    /// followed by a backward leaves it to the finalizer.
    /// </summary>
    private sealed class SavedInput(Tensor? input)
    {
        private Tensor? _input = input;

        /// <summary>Hands the tensor over once, or null where none was kept.</summary>
        public Tensor? TakeOrNull()
        {
            Tensor? input = _input;
            _input = null;
            return input;
        }

        public Tensor Take()
        {
            Tensor input = _input ?? throw new InvalidOperationException("a checkpointed layer's backward ran twice; the graph is not kept for a second backward");
            _input = null;
            return input;
        }
    }
}
