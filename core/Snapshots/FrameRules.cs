using Gputel.Core.Memory;
using Gputel.Core.Training;

namespace Gputel.Core.Snapshots;

/// <summary>
/// What a recorded stack says of an allocation: the training phase it ran in and, where a frame
/// names it, what the memory is. Rules name libraries and functions, not models: PyTorch's module
/// machinery, autograd and optimizers, Hugging Face transformers and PEFT, bitsandbytes and
/// DeepSpeed. A stack no rule matches says nothing; the replay then goes by timing, and what timing
/// cannot tell is unattributed, never guessed.
/// </summary>
public static class FrameRules
{
    /// <summary>The phase the stack ran in, or null when no frame tells.</summary>
    public static Phase? PhaseOf(IReadOnlyList<StackFrame> stack)
    {
        ArgumentNullException.ThrowIfNull(stack);
        bool forward = false, optimizer = false;
        foreach (StackFrame f in stack)
        {
            // Autograd's engine runs backward on its own threads, where no Python frame is recorded.
            if (f.Name.Contains("torch::autograd::Engine::", StringComparison.Ordinal)
                || f.Name.Contains("Backward", StringComparison.Ordinal) && f.Name.Contains("::apply", StringComparison.Ordinal)
                || f.Name.Contains("AccumulateGrad", StringComparison.Ordinal)
                || IsPython(f) && (f.File.EndsWith("torch/autograd/__init__.py", StringComparison.Ordinal) && f.Name == "backward"
                    || f.File.EndsWith("torch/_tensor.py", StringComparison.Ordinal) && f.Name == "backward"
                    || f.File.EndsWith("torch/autograd/graph.py", StringComparison.Ordinal)))
            {
                return Phase.Backward;
            }

            if (IsPython(f) && f.Name == "zero_grad")
            {
                return Phase.ZeroGrad;
            }

            optimizer |= IsPython(f) && IsOptimizerFile(f.File);
            forward |= IsPython(f) && (f.Name == "forward" || f.Name == "_call_impl" && f.File.EndsWith("torch/nn/modules/module.py", StringComparison.Ordinal));
        }

        return optimizer ? Phase.OptimizerStep : forward ? Phase.Forward : null;
    }

    /// <summary>The category a frame names for the memory, or null when none does.</summary>
    public static MemoryCategory? CategoryOf(IReadOnlyList<StackFrame> stack)
    {
        ArgumentNullException.ThrowIfNull(stack);
        MemoryCategory? found = null;
        foreach (StackFrame f in stack)
        {
            if (f.Name.Contains("AccumulateGrad", StringComparison.Ordinal))
            {
                return MemoryCategory.Gradients;
            }

            if (!IsPython(f))
            {
                continue;
            }

            string file = f.File;
            // The innermost naming frame decides: a LoRA layer built inside from_pretrained is an adapter.
            MemoryCategory? named =
                file.Contains("/bitsandbytes/", StringComparison.Ordinal) && !file.Contains("/bitsandbytes/optim/", StringComparison.Ordinal) ? MemoryCategory.QuantizedWeights
                : file.Contains("/peft/tuners/lora", StringComparison.Ordinal) || file.Contains("/peft/", StringComparison.Ordinal) && f.Name.Contains("lora", StringComparison.OrdinalIgnoreCase) ? MemoryCategory.LoraAdapters
                : f.Name is "_init_group" or "init_state" or "initialize_optimizer_states" || file.Contains("/deepspeed/", StringComparison.Ordinal) && f.Name.Contains("optimizer_state", StringComparison.Ordinal) ? MemoryCategory.OptimizerState
                : f.Name is "from_pretrained" or "load_state_dict" or "_load_from_state_dict" or "_load_state_dict_into_meta_model" or "load_checkpoint_and_dispatch" or "reset_parameters"
                    || file.EndsWith("torch/nn/modules/module.py", StringComparison.Ordinal) && f.Name is "_apply" or "to" or "cuda"
                    || file.Contains("torch/nn/modules/", StringComparison.Ordinal) && f.Name == "__init__" ? MemoryCategory.Weights
                : f.Name is "_prepare_input" or "_prepare_inputs" || file.Contains("torch/utils/data/", StringComparison.Ordinal) ? MemoryCategory.Inputs
                : null;
            if (named is not null)
            {
                found ??= named;
                if (named is MemoryCategory.LoraAdapters or MemoryCategory.QuantizedWeights or MemoryCategory.OptimizerState)
                {
                    return named;
                }
            }
        }

        return found;
    }

    /// <summary>
    /// The allocation site shown for a stack: the innermost Python frame outside PyTorch itself
    /// (the user's or a library's line that asked for the memory), else the innermost Python frame,
    /// else the innermost named frame.
    /// </summary>
    public static string SiteOf(IReadOnlyList<StackFrame> stack)
    {
        ArgumentNullException.ThrowIfNull(stack);
        StackFrame? python = null;
        foreach (StackFrame f in stack)
        {
            if (!IsPython(f))
            {
                continue;
            }

            python ??= f;
            if (!f.File.Contains("/torch/", StringComparison.Ordinal) && !f.File.StartsWith("torch/", StringComparison.Ordinal))
            {
                return Describe(f);
            }
        }

        if (python is not null)
        {
            return Describe(python);
        }

        // C++ only (autograd's threads): the first frame past the allocator and dispatcher plumbing,
        // which names the operator (BmmBackward0::apply, at::native::addmm).
        StackFrame? named = stack.FirstOrDefault(f => f.Name.Length > 0 && !Plumbing.Any(p => f.Name.Contains(p, StringComparison.Ordinal)));
        return named is null ? "(no stack recorded)" : named.Name;
    }

    private static readonly string[] Plumbing =
    [
        "torch::unwind", "torch::CapturedTraceback", "CachingAllocator", "gather_with_cpp", "_empty_generic", "empty_cuda", "empty_strided",
        "at::detail::", "c10::impl::", "c10::Dispatcher", "wrap_kernel_functor", "at::_ops::", "at::native::empty", "at::(anonymous namespace)",
        "at::empty", "at::TensorBase::", "make_tensor",
    ];

    private static string Describe(StackFrame f) => $"{f.File}:{f.Line} ({f.Name})";

    private static bool IsPython(StackFrame f) => f.File.EndsWith(".py", StringComparison.Ordinal);

    private static bool IsOptimizerFile(string file) =>
        file.Contains("torch/optim/", StringComparison.Ordinal)
        || file.Contains("/bitsandbytes/optim/", StringComparison.Ordinal)
        || file.Contains("/deepspeed/ops/adam", StringComparison.Ordinal)
        || file.Contains("/deepspeed/runtime/zero/", StringComparison.Ordinal)
        || file.Contains("/apex/optimizers/", StringComparison.Ordinal);
}
