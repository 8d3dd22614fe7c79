using Gputel.Core.Memory;
using Gputel.Core.Snapshots;
using Gputel.Core.Training;

namespace Gputel.Core.Tests.Snapshots;

/// <summary>The stack rules on stacks of the libraries users fine-tune with (names as PyTorch records them).</summary>
public sealed class FrameRulesTests
{
    private const string Site = "/venv/lib/python3.11/site-packages/";

    private static StackFrame Py(string file, string name, int line = 1) => new(file, line, name);

    private static StackFrame Cpp(string name) => new("??", 0, name);

    [Fact]
    public void Hugging_face_loading_is_weights_and_peft_layers_are_adapters()
    {
        StackFrame[] loading = [Py(Site + "torch/nn/modules/module.py", "_apply"), Py(Site + "transformers/modeling_utils.py", "from_pretrained"), Py("/app/train.py", "main")];
        StackFrame[] lora = [Py(Site + "torch/nn/modules/linear.py", "__init__"), Py(Site + "peft/tuners/lora/layer.py", "update_layer"), Py(Site + "peft/peft_model.py", "__init__")];
        StackFrame[] quantized = [Py(Site + "bitsandbytes/functional.py", "quantize_4bit"), Py(Site + "bitsandbytes/nn/modules.py", "_quantize"), Py(Site + "transformers/modeling_utils.py", "from_pretrained")];

        Assert.Equal(MemoryCategory.Weights, FrameRules.CategoryOf(loading));
        Assert.Equal(MemoryCategory.LoraAdapters, FrameRules.CategoryOf(lora));
        Assert.Equal(MemoryCategory.QuantizedWeights, FrameRules.CategoryOf(quantized));
        Assert.Null(FrameRules.PhaseOf(loading));
    }

    [Fact]
    public void Optimizers_of_torch_bitsandbytes_and_deepspeed_are_the_optimizer_step()
    {
        StackFrame[] torch = [Py(Site + "torch/optim/adamw.py", "_init_group"), Py(Site + "torch/optim/optimizer.py", "wrapper"), Py(Site + "transformers/trainer.py", "_inner_training_loop")];
        StackFrame[] bnb = [Py(Site + "bitsandbytes/optim/optimizer.py", "init_state"), Py(Site + "bitsandbytes/optim/optimizer.py", "step")];
        StackFrame[] deepspeed = [Py(Site + "deepspeed/runtime/zero/stage_1_and_2.py", "step"), Py(Site + "deepspeed/runtime/engine.py", "step")];

        Assert.Equal(Phase.OptimizerStep, FrameRules.PhaseOf(torch));
        Assert.Equal(Phase.OptimizerStep, FrameRules.PhaseOf(bnb));
        Assert.Equal(Phase.OptimizerStep, FrameRules.PhaseOf(deepspeed));
        Assert.Equal(MemoryCategory.OptimizerState, FrameRules.CategoryOf(torch));
        Assert.Equal(MemoryCategory.OptimizerState, FrameRules.CategoryOf(bnb));
        // An 8-bit optimizer's state is optimizer state, not quantized weights.
        Assert.NotEqual(MemoryCategory.QuantizedWeights, FrameRules.CategoryOf(bnb));
    }

    [Fact]
    public void Autograd_is_backward_and_accumulate_grad_is_a_gradient()
    {
        StackFrame[] accumulate = [Cpp("torch::autograd::AccumulateGrad::apply(std::vector<at::Tensor>&&)"), Cpp("torch::autograd::Engine::evaluate_function(...)")];
        StackFrame[] op = [Cpp("at::native::mm(at::Tensor const&, at::Tensor const&)"), Cpp("torch::autograd::generated::MmBackward0::apply(std::vector<at::Tensor>&&)")];
        StackFrame[] python = [Py(Site + "torch/autograd/__init__.py", "backward"), Py(Site + "torch/_tensor.py", "backward"), Py("/app/train.py", "train")];

        Assert.Equal(Phase.Backward, FrameRules.PhaseOf(accumulate));
        Assert.Equal(Phase.Backward, FrameRules.PhaseOf(op));
        Assert.Equal(Phase.Backward, FrameRules.PhaseOf(python));
        Assert.Equal(MemoryCategory.Gradients, FrameRules.CategoryOf(accumulate));
        Assert.Null(FrameRules.CategoryOf(op));
        Assert.Equal("torch::autograd::generated::MmBackward0::apply(std::vector<at::Tensor>&&)", FrameRules.SiteOf([Cpp("c10::cuda::CUDACachingAllocator::Native::DeviceCachingAllocator::malloc(int, unsigned long, CUstream_st*)"), .. op[1..]]));
    }

    [Fact]
    public void Module_calls_are_forward_inputs_are_named_and_nothing_else_is_guessed()
    {
        StackFrame[] forward = [Py(Site + "torch/nn/functional.py", "linear"), Py(Site + "transformers/models/qwen2/modeling_qwen2.py", "forward", 80), Py(Site + "torch/nn/modules/module.py", "_call_impl")];
        StackFrame[] inputs = [Py(Site + "transformers/trainer.py", "_prepare_input"), Py(Site + "transformers/trainer.py", "training_step")];
        StackFrame[] user = [Py("/app/train.py", "train", 42)];

        Assert.Equal(Phase.Forward, FrameRules.PhaseOf(forward));
        Assert.Null(FrameRules.CategoryOf(forward));
        Assert.Equal(MemoryCategory.Inputs, FrameRules.CategoryOf(inputs));
        Assert.Null(FrameRules.PhaseOf(user));
        Assert.Null(FrameRules.CategoryOf(user));
        Assert.Equal(Site + "transformers/models/qwen2/modeling_qwen2.py:80 (forward)", FrameRules.SiteOf(forward));
        Assert.Equal("/app/train.py:42 (train)", FrameRules.SiteOf(user));
    }
}
