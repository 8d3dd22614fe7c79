using Gputel.Core.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gputel.Profiler.Model;

/// <content>Choosing what trains: full fine-tuning, layer freezing, LoRA.</content>
public sealed partial class DecoderModel
{
    /// <summary>Full fine-tuning: every parameter requires grad.</summary>
    public void TrainAll()
    {
        foreach (var parameter in parameters())
        {
            parameter.requires_grad = true;
        }
    }

    /// <summary>Freezes everything except the last <paramref name="trainableLayers"/> decoder layers.</summary>
    /// <exception cref="ArgumentOutOfRangeException">More layers than the model has, or fewer than zero.</exception>
    public void FreezeAllButLastLayers(int trainableLayers)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(trainableLayers);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(trainableLayers, Shape.Layers);
        foreach (var parameter in parameters())
        {
            parameter.requires_grad = false;
        }
        foreach (var layer in Layers.Skip(Shape.Layers - trainableLayers))
        {
            foreach (var parameter in layer.parameters())
            {
                parameter.requires_grad = true;
            }
        }
    }

    /// <summary>
    /// Freezes every base parameter and wraps the target projections of every layer in
    /// <see cref="LoraLinear"/>, whose <c>lora_A</c>/<c>lora_B</c> weights are then the only trainable ones.
    /// Returns the number of projections wrapped.
    /// </summary>
    /// <exception cref="ArgumentException">A target is not a projection name.</exception>
    /// <exception cref="InvalidOperationException">LoRA was already applied.</exception>
    public int ApplyLora(LoraSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var targets = settings.TargetModules.ToHashSet(StringComparer.Ordinal);
        foreach (var target in targets)
        {
            Shape.ProjectionSize(target);
        }
        foreach (var parameter in parameters())
        {
            parameter.requires_grad = false;
        }

        nn.Module<Tensor, Tensor>? Wrap(string name, nn.Module<Tensor, Tensor> current) => current switch
        {
            _ when !targets.Contains(name) => null,
            Linear linear => new LoraLinear(linear, settings),
            _ => throw new InvalidOperationException($"{name} is already a {current.GetType().Name}; LoRA was applied twice."),
        };

        int wrapped = 0;
        foreach (var layer in Layers)
        {
            wrapped += layer.Attention.WrapProjections(Wrap) + layer.Mlp.WrapProjections(Wrap);
        }
        return wrapped;
    }

    /// <summary>The parameters that require grad, by name: what the optimizer should be given.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> NamedTrainableParameters() =>
        named_parameters().Where(entry => entry.parameter.requires_grad);

    /// <summary>The parameters that require grad (Adam/AdamW allocate state for every parameter they get).</summary>
    public IEnumerable<Parameter> TrainableParameters() => NamedTrainableParameters().Select(entry => entry.Parameter);
}
