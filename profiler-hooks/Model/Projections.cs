using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gputel.Profiler.Model;

/// <summary>Creating and swapping the linear projections of attention and MLP blocks.</summary>
internal static class Projections
{
    /// <summary>A linear layer in the model's dtype and device.</summary>
    public static Linear Create(long inputs, long outputs, bool bias, ScalarType dtype, Device? device) =>
        nn.Linear(inputs, outputs, bias, device, dtype);

    /// <summary>
    /// Replaces the sub-module registered as <paramref name="name"/> when <paramref name="wrap"/> returns a
    /// replacement, keeping the registered name so state-dict names stay Hugging Face's.
    /// </summary>
    public static nn.Module<Tensor, Tensor> Swap(
        nn.Module owner, string name, nn.Module<Tensor, Tensor> current, Func<string, nn.Module<Tensor, Tensor>, nn.Module<Tensor, Tensor>?> wrap)
    {
        var replacement = wrap(name, current);
        if (replacement is null)
        {
            return current;
        }
        // Registering null removes the old entry; TorchSharp refuses to register a name twice.
        owner.register_module(name, null!);
        owner.register_module(name, replacement);
        // Replacements hold their own handles on the shared storage, so the old module can go now.
        current.Dispose();
        return replacement;
    }
}
