namespace Gputel.Collector.Nvml;

/// <summary>
/// One NVML entry point, looked up in the loaded library on first use and cached. The address is
/// zero when the library lacks the function (an older or newer driver than the header) or when no
/// library is loaded; callers answer <see cref="NvmlReturn.FunctionNotFound"/> then, for that call only.
/// </summary>
internal sealed class NvmlSymbol(string name)
{
    // The address with the library generation it was found in: binding another library (which
    // only tests do) makes every symbol look itself up again.
    private Binding? _binding;

    /// <summary>The C name, e.g. <c>nvmlDeviceGetMemoryInfo_v2</c>.</summary>
    public string Name { get; } = name;

    /// <summary>The function's address in the loaded library, or zero when it has none.</summary>
    public nint Address
    {
        get
        {
            int generation = NvmlLibrary.Generation;
            Binding? binding = Volatile.Read(ref _binding);
            if (binding is null || binding.Generation != generation)
            {
                // Two threads may both look it up; they find the same address.
                binding = new Binding(generation, NvmlLibrary.GetExport(Name));
                Volatile.Write(ref _binding, binding);
            }

            return binding.Address;
        }
    }

    private sealed record Binding(int Generation, nint Address);
}
