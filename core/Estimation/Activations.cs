using System.Text;
using Gputel.Core.Training;

namespace Gputel.Core.Estimation;

/// <summary>
/// What the forward pass leaves alive for backward, tensor by tensor, as the reference model
/// computes it (the same graph Hugging Face's Qwen2/Llama builds). t = batch x sequence tokens.
/// </summary>
internal sealed class Activations
{
    private Activations(long total, long outputs, long lossGradient, long recompute, long recomputeBackward, long forwardTransient, string formula, string forwardTransientFormula, long vocabulary = 0)
    {
        Vocabulary = vocabulary;
        RecomputeBackward = recomputeBackward;
        Total = total;
        Outputs = outputs;
        LossGradient = lossGradient;
        Recompute = recompute;
        ForwardTransient = forwardTransient;
        Formula = formula;
        ForwardTransientFormula = forwardTransientFormula;
    }

    /// <summary>The logits and the fp32 log-softmax the vocabulary loss keeps (part of <see cref="Total"/>).</summary>
    public long Vocabulary { get; }

    /// <summary>Everything alive at the end of forward that the forward created (saved tensors, logits, loss).</summary>
    public long Total { get; }

    /// <summary>Logits and loss, which the training loop holds until the step ends.</summary>
    public long Outputs { get; }

    /// <summary>The loss's gradient over the vocabulary at the start of backward.</summary>
    public long LossGradient { get; }

    /// <summary>With gradient checkpointing: one layer's activations, alive while it is recomputed; else 0.</summary>
    public long Recompute { get; }

    /// <summary>
    /// With gradient checkpointing: a recomputed layer's activations plus the gradients of its output
    /// and of its SwiGLU factors, less the log-softmax released before it; else 0. Measured on top
    /// of everything forward left.
    /// </summary>
    public long RecomputeBackward { get; }

    /// <summary>The largest short-lived buffer of forward.</summary>
    public long ForwardTransient { get; }

    /// <summary>How <see cref="Total"/> was computed.</summary>
    public string Formula { get; }

    /// <summary>How <see cref="ForwardTransient"/> was computed.</summary>
    public string ForwardTransientFormula { get; }

    public static Activations Of(EstimateRequest r)
    {
        var shape = r.Shape;
        long b = r.BatchSize, s = r.CutoffLength, t = b * s, h = shape.HiddenSize, i = shape.IntermediateSize, v = shape.VocabSize;
        long q = shape.AttentionHeads * shape.HeadDim, kv = shape.KeyValueHeads * shape.HeadDim;
        int p = r.DtypeBytes, layers = shape.Layers;
        var targets = r.Method == FineTuneMethod.Lora ? r.Lora.TargetModules.ToHashSet(StringComparer.Ordinal) : [];
        bool full = r.Method == FineTuneMethod.Full;

        // Which layers record a graph, and whether their input already requires grad.
        int first = r.Method == FineTuneMethod.Freeze ? layers - r.TrainableLayers : 0;
        int recorded = layers - first;
        bool Trains(string projection) => r.Method != FineTuneMethod.Lora || targets.Contains(projection);
        bool normsTrain = r.Method != FineTuneMethod.Lora;
        // LoRA dropout on the CPU (libtorch's unfused dropout: input x a scaled Bernoulli mask in the
        // input's dtype): each adapter's A then keeps its own dropped copy of the input instead of
        // sharing the input with the other adapters on it, and the multiply keeps the mask as well
        // where the input requires grad. Measured on the tiny shape (t = 512, h = 64, fp32), against
        // no dropout: q_proj alone adds nothing in the first layer (its copy replaces the input A kept)
        // and one h x 4 B mask in the second; q_proj with k_proj adds one copy, then a copy and two
        // masks; down_proj alone adds nothing, then one i x 4 B mask.
        // On a GPU, PyTorch's fused dropout keeps a one-byte mask instead.
        bool dropout = r.Method == FineTuneMethod.Lora && r.Lora.Dropout > 0;
        int maskBytes = r.Device.IsCpu ? p : 1;
        long Adapters(long inputs, bool inputGrad, params string[] projections)
        {
            int adapted = projections.Count(targets.Contains);
            return adapted * t * inputs * (p + (inputGrad ? maskBytes : 0));
        }

        var text = new StringBuilder();
        long PerLayer(bool inputGrad)
        {
            long bytes = 0;
            // RMSNorm upcasts to fp32: pow and the scaling multiply keep x (fp32) when x requires grad;
            // the weight multiply keeps the normalised tensor when the weight trains.
            bytes += (inputGrad ? t * h * 4 : 0) + (normsTrain ? t * h * p : 0);
            bool qkv = Trains("q_proj") || Trains("k_proj") || Trains("v_proj");
            bytes += dropout ? Adapters(h, inputGrad, "q_proj", "k_proj", "v_proj") // each adapter's dropped input (and mask)
                : qkv ? t * h * p : 0; // the normalised input, kept by the q/k/v weight gradients
            bool attentionGrad = inputGrad || qkv;
            if (attentionGrad)
            {
                long keyValue = shape.QueryGroupSize > 1 ? t * q * p : t * kv * p; // repeated for GQA before attention
                bytes += t * q * p + 2 * keyValue + t * q * p; // query, key, value, output
                // Qwen3's q_norm and k_norm: RMSNorm upcasts to fp32 and keeps its input, and the
                // normalised tensor where its weight trains.
                bytes += shape.QkNorm ? (t * (q + kv) * 4) + (normsTrain ? t * (q + kv) * p : 0) : 0;
                bytes += r.Attention == "sdpa"
                    ? b * shape.AttentionHeads * s * 4 // log-sum-exp
                    : b * shape.AttentionHeads * s * s * (4 + p); // softmax in fp32 and its cast
            }

            // Without q/k/v gradients attention saves nothing, and a LoRA o_proj's A keeps the attention
            // output itself; with dropout, its dropped copy (and the mask where attention has gradients).
            bytes += dropout ? Adapters(q, attentionGrad, "o_proj")
                : !attentionGrad && r.Method == FineTuneMethod.Lora && Trains("o_proj") ? t * q * p : 0;
            bool streamGrad = attentionGrad || Trains("o_proj");
            bytes += streamGrad ? t * h * 4 : 0; // post-attention norm input (fp32)
            bytes += normsTrain ? t * h * p : 0;
            bytes += dropout ? Adapters(h, streamGrad, "gate_proj", "up_proj")
                : Trains("gate_proj") || Trains("up_proj") ? t * h * p : 0;
            bytes += streamGrad ? 3 * t * i * p : 0; // gate output (SiLU), SiLU output, up output
            bytes += dropout ? Adapters(i, streamGrad, "down_proj")
                : Trains("down_proj") ? t * i * p : 0; // the product, kept by down_proj's weight gradient
            bytes += targets.Count * t * r.Lora.Rank * p; // each adapter's A output
            return bytes;
        }

        long firstLayer = PerLayer(inputGrad: full);
        long otherLayer = PerLayer(inputGrad: true);
        long layerBytes;
        if (r.GradientCheckpointing)
        {
            layerBytes = recorded * t * h * p;
            text.Append($"checkpointing: each of {recorded} recorded layers keeps its input t x h x {p} B = {MemoryEstimator.Format(t * h * p)}");
        }
        else
        {
            layerBytes = recorded == 0 ? 0 : firstLayer + (recorded - 1) * otherLayer;
            text.Append($"{recorded} recorded layers: first {MemoryEstimator.Format(firstLayer)}, others {MemoryEstimator.Format(otherLayer)} each (norm inputs in fp32, q/k/v/output of attention{(shape.QueryGroupSize > 1 ? " with K/V repeated for GQA" : string.Empty)}, {(r.Attention == "sdpa" ? "log-sum-exp" : "score and probability matrices")}, SwiGLU gate/SiLU/up{(Trains("down_proj") ? "/product" : string.Empty)}{(targets.Count > 0 ? $", {targets.Count} LoRA A outputs" : string.Empty)}{(dropout ? ", each adapter's dropped input and, where it has gradients, its dropout mask" : string.Empty)})");
        }

        // Final norm, LM head input, logits, and the fp32 log-softmax the loss keeps.
        long positions = b * (s - 1);
        // Final norm (its fp32 input, for the gradient of its input; its normalised tensor when its
        // weight trains) and the LM head's input, saved only when the head's weight trains (full):
        // a frozen head needs only its weight to pass the gradient on.
        long head = recorded > 0 ? t * h * 4 + (full ? 2 * t * h * p : 0) : 0;
        long logits = t * v * p;
        long logSoftmax = positions * v * 4;
        long rotary = 2 * s * shape.HeadDim * p;
        // The logits go with the graph once backward is done; only the loss's value is kept.
        long outputs = 0;
        long total = layerBytes + head + logits + logSoftmax + rotary + positions * 8;
        text.Append($"; head {MemoryEstimator.Format(head)}; logits t x V x {p} B = {MemoryEstimator.Format(logits)}; log-softmax b x (s-1) x V x 4 B = {MemoryEstimator.Format(logSoftmax)}");

        long lossCopy = r.DtypeBytes != 4 || b > 1 ? positions * v * 4 : 0;
        // Gradient checkpointing: forward runs each layer without a graph, so its MLP
        // intermediates (gate, up, SiLU, product) exist briefly; backward brings back one layer's
        // activations at a time.
        long checkpointedForward = r.GradientCheckpointing && recorded > 0 ? 4 * t * i * p : 0;
        long recompute = r.GradientCheckpointing && recorded > 0 ? otherLayer : 0;
        // During its backward, while every saved tensor of the layer is still held: the gradient
        // arriving for the layer's output, and in the SwiGLU product's backward the gradients of its
        // two factors (the product's own gradient replacing the product the down projection saved).
        // By then the loss's backward has released the fp32 log-softmax it saved.
        long recomputeBackward = recompute > 0 ? recompute + 2 * t * i * p + t * h * 4 - logSoftmax : 0;
        long forwardTransient = Math.Max(lossCopy, checkpointedForward);
        return new Activations(
            total,
            outputs,
            positions * v * 4,
            recompute,
            recomputeBackward,
            forwardTransient,
            text.ToString(),
            forwardTransient == 0 ? "none beyond a layer's own buffers"
                : forwardTransient == checkpointedForward ? $"a checkpointed layer's MLP intermediates while it runs without a graph: 4 x t x {i} x {p} B = {MemoryEstimator.Format(forwardTransient)}"
                : $"the fp32 copy of the logits the loss reads: b x (s-1) x V x 4 B = {MemoryEstimator.Format(lossCopy)}",
            logits + logSoftmax);
    }
}
