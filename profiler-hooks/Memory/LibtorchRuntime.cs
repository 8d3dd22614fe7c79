using static TorchSharp.torch;

namespace Gputel.Profiler.Memory;

/// <summary>
/// libtorch's one-time memory: the first backward pass starts the autograd engine and the first
/// matrix products set up the math libraries' buffers (MKL's and oneDNN's, sized by the matrix
/// shapes: 5-18 MiB on the CPU for priming and the first steps together, measured on the test shapes).
/// It is no tensor's, yet it is part of what the run costs: the <c>runtime</c> category, the CPU
/// counterpart of a CUDA context. Priming before the run measures it once.
/// </summary>
public static class LibtorchRuntime
{
    private static readonly Lock Gate = new();
    private static bool _primed;

    /// <summary>
    /// Runs a tiny forward, backward and AdamW step and returns how much the allocator grew and
    /// kept. Only the first call in a process does anything: later calls return 0, since that memory
    /// is then already part of any baseline taken since.
    /// </summary>
    public static long Prime(Func<long?>? allocator = null)
    {
        allocator ??= CpuAllocator.InUseBytes;
        lock (Gate)
        {
            if (_primed)
            {
                return 0;
            }

            long before = allocator() ?? 0;
            using (NewDisposeScope())
            {
                var layer = nn.Linear(64, 64);
                var optimizer = optim.AdamW(layer.parameters());
                Tensor loss = layer.call(randn(32, 64)).pow(2).mean();
                loss.backward();
                optimizer.step();
                layer.zero_grad(set_to_none: true);
                layer.Dispose();
            }

            _primed = true;
            return Math.Max(0, (allocator() ?? before) - before);
        }
    }
}
