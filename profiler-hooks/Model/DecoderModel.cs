using Gputel.Core.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gputel.Profiler.Model;

/// <summary>
/// A Llama/Qwen2 causal language model (Hugging Face <c>Qwen2ForCausalLM</c> / <c>LlamaForCausalLM</c>)
/// with the same parameter names, so a Hugging Face checkpoint maps onto it by name. Sub-modules are
/// invoked with <c>call</c>, so forward hooks registered on any of them fire.
/// </summary>
public sealed partial class DecoderModel : nn.Module<Tensor, Tensor?, CausalLmOutput>
{
    /// <summary>Label value excluded from the loss (padding, prompt tokens), as in Hugging Face.</summary>
    public const long IgnoreIndex = -100;

    private const double InitializerRange = 0.02;

    // Field names are the state-dict names Hugging Face uses; lm_head is absent when tied.
    private readonly DecoderStack model;
    private readonly Linear? lm_head;

    /// <summary>Creates a freshly initialised model: weights normal(0, 0.02), biases zero, norms one.</summary>
    /// <param name="shape">The dimensions.</param>
    /// <param name="dtype">Parameter dtype: <see cref="ScalarType.Float32"/> or <see cref="ScalarType.BFloat16"/>.</param>
    /// <param name="device">Where parameters live; the default device when null.</param>
    /// <exception cref="ArgumentException">The shape is invalid or the dtype unsupported.</exception>
    public DecoderModel(ModelShape shape, ScalarType dtype = ScalarType.Float32, Device? device = null) : base(nameof(DecoderModel))
    {
        ArgumentNullException.ThrowIfNull(shape);
        shape.Validate();
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16))
        {
            throw new ArgumentException($"Parameter dtype must be Float32 or BFloat16, not {dtype}.", nameof(dtype));
        }
        Shape = shape;
        DType = dtype;
        model = new DecoderStack(shape, dtype, device);
        lm_head = shape.TiedEmbeddings ? null : Projections.Create(shape.HiddenSize, shape.VocabSize, false, dtype, device);
        RegisterComponents();
        InitializeWeights();
    }

    /// <summary>The dimensions this model was built with.</summary>
    public ModelShape Shape { get; }

    /// <summary>The dtype of the base parameters.</summary>
    public ScalarType DType { get; }

    /// <summary>
    /// Called right after the loss is computed, while the loss's own buffers (the float32 copy of the
    /// shifted logits, the log-softmax autograd keeps) are all alive: the moment of the loss's peak,
    /// which a memory profiler reads here (<see cref="Memory.MemoryAccountant.SamplePeak"/>) rather
    /// than hoping a sampler wakes inside it. It fires on every forward pass given labels, in
    /// training or not, inside the loss's own dispose scope: tensors it creates are freed on return.
    /// </summary>
    public Action? LossComputed { get; set; }

    /// <summary>Whether each decoder layer is recomputed in backward instead of keeping its activations.</summary>
    public bool GradientCheckpointing
    {
        get => model.GradientCheckpointing;
        set => model.GradientCheckpointing = value;
    }

    /// <summary>The decoder layers, first to last (for attaching hooks).</summary>
    public IReadOnlyList<DecoderLayer> Layers => model.Layers;

    /// <summary>
    /// Computes logits for token ids [batch, seq] and, when <paramref name="input2"/> (labels, same shape) is
    /// given, the mean cross-entropy of predicting token t+1 from positions ≤ t, skipping labels equal to
    /// <see cref="IgnoreIndex"/>.
    /// </summary>
    /// <param name="input1">Token ids [batch, seq], int64.</param>
    /// <param name="input2">Labels [batch, seq], int64, or null for logits only.</param>
    public override CausalLmOutput forward(Tensor input1, Tensor? input2)
    {
        var hidden = model.call(input1);
        var logits = lm_head is null ? nn.functional.linear(hidden, model.EmbeddingWeight) : lm_head.call(hidden);
        // The head keeps what it needs for backward; this handle would otherwise hold the graph (and
        // every checkpointed layer's saved input with it) until the caller's dispose scope ends.
        hidden.Dispose();
        if (input2 is null)
        {
            return new CausalLmOutput(logits, null);
        }

        using var scope = NewDisposeScope();
        long positions = logits.shape[1] - 1;
        // Upcast as Hugging Face does: a bf16 softmax over 150k tokens loses too much.
        var predictions = logits.narrow(1, 0, positions).to(ScalarType.Float32).reshape(-1, Shape.VocabSize);
        var targets = input2.narrow(1, 1, positions).reshape(-1);
        var loss = nn.functional.cross_entropy(predictions, targets, ignore_index: IgnoreIndex).MoveToOuterDisposeScope();
        // Before this scope frees the float32 copy.
        LossComputed?.Invoke();
        return new CausalLmOutput(logits, loss);
    }

    private void InitializeWeights()
    {
        using var noGrad = no_grad();
        foreach (var module in modules())
        {
            switch (module)
            {
                case Linear linear:
                    nn.init.normal_(linear.weight, 0, InitializerRange);
                    if (linear.bias is { } bias)
                    {
                        nn.init.zeros_(bias);
                    }
                    break;
                case Embedding embedding when embedding.weight is { } weight:
                    nn.init.normal_(weight, 0, InitializerRange);
                    break;
            }
        }
    }
}
