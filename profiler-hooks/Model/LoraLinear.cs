using Gputel.Core.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gputel.Profiler.Model;

/// <summary>
/// A frozen linear layer plus a trainable low-rank update: W x + b + (alpha / r) · B(A(dropout(x))).
/// The frozen weight keeps the name <c>weight</c> (so checkpoints still map by Hugging Face name);
/// the adapters are named as PEFT saves them: <c>lora_A.weight</c> [r, in] and <c>lora_B.weight</c> [out, r].
/// </summary>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
    private readonly double _scaling;
    private readonly double _dropout;

    // Field names are the state-dict names.
    private readonly Parameter weight;
    private readonly Parameter? bias;
    private readonly Linear lora_A;
    private readonly Linear lora_B;
    private readonly Dropout lora_dropout;

    /// <summary>Wraps <paramref name="baseLayer"/>, sharing (not copying) its weight and bias, which become frozen.</summary>
    public LoraLinear(Linear baseLayer, LoraSettings settings) : base(nameof(LoraLinear))
    {
        ArgumentNullException.ThrowIfNull(baseLayer);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Rank, 1, nameof(settings));
        _scaling = settings.Scaling;
        _dropout = settings.Dropout;

        // New handles on the same storage, so this module does not depend on baseLayer's lifetime.
        var baseWeight = baseLayer.weight;
        weight = new Parameter(baseWeight.detach(), requires_grad: false);
        bias = baseLayer.bias is { } baseBias ? new Parameter(baseBias.detach(), requires_grad: false) : null;

        long outputs = baseWeight.shape[0], inputs = baseWeight.shape[1];
        lora_A = nn.Linear(inputs, settings.Rank, hasBias: false, baseWeight.device, baseWeight.dtype);
        lora_B = nn.Linear(settings.Rank, outputs, hasBias: false, baseWeight.device, baseWeight.dtype);
        lora_dropout = nn.Dropout(settings.Dropout);
        using (no_grad())
        {
            // PEFT's default: A kaiming-uniform, B zeros, so the wrapped layer starts equal to the base.
            nn.init.kaiming_uniform_(lora_A.weight, a: Math.Sqrt(5));
            nn.init.zeros_(lora_B.weight);
        }
        RegisterComponents();
    }

    /// <summary>Whether a forward pass draws random numbers: dropout above 0, in training mode.</summary>
    internal bool DrawsRandomNumbers => training && _dropout > 0;

    /// <summary>Applies the frozen layer plus the scaled adapter.</summary>
    public override Tensor forward(Tensor input)
    {
        // Intermediates (the frozen output, the adapter's output and its scaled copy) go as soon as
        // the sum exists, as PEFT's would under Python's reference counting: left to the caller's
        // scope they would stay until the whole attention or MLP block returned.
        using var scope = NewDisposeScope();
        var frozen = nn.functional.linear(input, weight, bias);
        return (frozen + lora_B.call(lora_A.call(lora_dropout.call(input))) * _scaling).MoveToOuterDisposeScope();
    }
}
