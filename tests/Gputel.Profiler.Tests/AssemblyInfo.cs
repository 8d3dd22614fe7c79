using System.Runtime.CompilerServices;

// Memory accounting reads the process-wide malloc figures: tests allocating in parallel would
// show up in each other's numbers, so this assembly runs its tests one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Gputel.Profiler.Tests;

internal static class AllocatorSetup
{
    /// <summary>Before any test starts libtorch's threads, as the finetune command does at start.</summary>
    [ModuleInitializer]
    internal static void Configure() => Gputel.Profiler.Memory.CpuAllocator.ConfigureForAccounting();
}
