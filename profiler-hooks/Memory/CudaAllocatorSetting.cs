using System.Runtime.InteropServices;


namespace Gputel.Profiler.Memory;

/// <summary>
/// Makes libtorch allocate CUDA memory from the device's default memory pool
/// (<c>backend:cudaMallocAsync</c>), the one allocator whose figures and high-water marks a process
/// can read from outside libtorch (<see cref="CudaMemoryTruth"/>; TorchSharp has no
/// <c>memory_stats</c>). libtorch picks its allocator once, when its CUDA library loads, from
/// <c>PYTORCH_ALLOC_CONF</c> or the older <c>PYTORCH_CUDA_ALLOC_CONF</c>, read with the C library's
/// <c>getenv</c>: <see cref="Environment.SetEnvironmentVariable(string, string)"/> does not reach
/// it, so the setting goes through libc's <c>setenv</c>, before anything loads libtorch.
/// </summary>
public static partial class CudaAllocatorSetting
{
    /// <summary>The setting libtorch reads (PyTorch 2.9 and later).</summary>
    public const string Variable = "PYTORCH_ALLOC_CONF";

    /// <summary>The name earlier PyTorch versions read, still honoured.</summary>
    public const string LegacyVariable = "PYTORCH_CUDA_ALLOC_CONF";

    /// <summary>The option that selects the pool allocator.</summary>
    public const string AsyncBackend = "backend:cudaMallocAsync";

    /// <summary>
    /// Adds <see cref="AsyncBackend"/> to the allocator settings of this process where the user's
    /// settings name no backend (keeping their other options), and returns the settings as they now
    /// read, for the run record. Takes effect only where libtorch's CUDA library has not loaded yet.
    /// </summary>
    /// <param name="read">The environment as the process started (the user's settings).</param>
    /// <exception cref="NotSupportedException">The user's settings ask for another backend.</exception>
    public static string Ensure(Func<string, string?>? read = null)
    {
        read ??= Environment.GetEnvironmentVariable;
        string? current = read(Variable), legacy = read(LegacyVariable);
        (string Name, string? Value)[] settings = [(Variable, current), (LegacyVariable, legacy)];
        foreach ((string name, string? value) in settings)
        {
            if (Backend(value) is { } backend && backend != "cudaMallocAsync")
            {
                throw new NotSupportedException(
                    $"{name}={value} asks libtorch for its '{backend}' CUDA allocator, whose figures no process can read from outside libtorch: "
                    + $"a CUDA run is measured from the cudaMallocAsync pool. Set {name} with {AsyncBackend}, or leave the backend out");
            }
        }

        // Each variable the user set gets the backend where it lacks it: libtorch 2.9 and later read
        // PYTORCH_ALLOC_CONF first, earlier ones only the other, so a backend named in one alone
        // may be the one not read. Where neither is set, both, for the same reason.
        bool none = string.IsNullOrEmpty(current) && string.IsNullOrEmpty(legacy);
        string? newCurrent = current, newLegacy = legacy;
        if ((none || !string.IsNullOrEmpty(current)) && Backend(current) is null)
        {
            newCurrent = With(current);
            Set(Variable, newCurrent);
        }

        if ((none || !string.IsNullOrEmpty(legacy)) && Backend(legacy) is null)
        {
            newLegacy = With(legacy);
            Set(LegacyVariable, newLegacy);
        }

        return Describe(newCurrent, newLegacy);
    }

    /// <summary>The <c>backend</c> option's value in an allocator setting (options split by commas or spaces, key and value by colons), or null.</summary>
    internal static string? Backend(string? setting)
    {
        if (string.IsNullOrWhiteSpace(setting))
        {
            return null;
        }

        string? backend = null;
        // Options are split by commas or white space; white space around a colon joins key and value.
        string joined = System.Text.RegularExpressions.Regex.Replace(setting, @"\s*:\s*", ":");
        foreach (string option in joined.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
        {
            string[] pair = option.Split(':', 2, StringSplitOptions.TrimEntries);
            if (pair.Length == 2 && pair[0] == "backend")
            {
                // As libtorch reads it: the last one stands.
                backend = pair[1];
            }
        }

        return backend;
    }

    private static string With(string? setting) => string.IsNullOrEmpty(setting) ? AsyncBackend : setting + "," + AsyncBackend;

    private static string Describe(string? current, string? legacy) =>
        string.Join("; ", new[] { (Variable, current), (LegacyVariable, legacy) }.Where(p => !string.IsNullOrEmpty(p.Item2)).Select(p => $"{p.Item1}={p.Item2}"));

    private static void Set(string name, string value)
    {
        if (setenv(name, value, 1) != 0)
        {
            throw new NotSupportedException($"could not set {name} for libtorch (setenv failed): start gputel with {name}={value}");
        }
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);
}
