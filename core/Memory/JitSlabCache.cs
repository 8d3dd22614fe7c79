using System.Globalization;

namespace Gputel.Core.Memory;

/// <summary>
/// The .NET JIT's slab cache, the one piece of a .NET process's malloc'd memory that changes by
/// megabytes on its own during a CPU run. The runtime keeps the JIT's freed working memory, up to
/// 16 MiB by default, in <c>malloc</c>'d blocks, and the finalizer thread frees them when the JIT has
/// not needed them for 2-4 seconds. A run that attaches its accountant while the cache is full sees
/// the allocator fall by that much a few seconds later (11 MiB on the tiny model, 4 s in): below its
/// baseline, a negative <see cref="MemoryCategory.Unattributed"/> that no tensor explains. With
/// <c>DOTNET_JitHostMaxSlabCache=0</c> in the environment when the process starts, the JIT frees its
/// memory as it finishes each method and the figures stay put; <c>gputel finetune</c> restarts itself
/// with it. The runtime reads it once, at start-up: setting it from inside a running process does
/// nothing.
/// </summary>
public static class JitSlabCache
{
    /// <summary>The run.json setting that says whether the run's process had the cache <c>on</c> or <c>off</c>.</summary>
    public const string Setting = "jit_slab_cache";

    /// <summary>The environment variable that sizes the cache (in bytes, hexadecimal, as the runtime reads it).</summary>
    public const string Variable = "DOTNET_JitHostMaxSlabCache";

    // The runtime's older prefix for the same setting, still read.
    private const string LegacyVariable = "COMPlus_JitHostMaxSlabCache";

    /// <summary>Whether this process started with the JIT's slab cache off (the variable set to 0).</summary>
    public static bool IsOff => IsZero(Environment.GetEnvironmentVariable(Variable) ?? Environment.GetEnvironmentVariable(LegacyVariable));

    /// <summary>Whether the variable was set at all, to any value (a user's own choice, left alone).</summary>
    public static bool IsSet =>
        Environment.GetEnvironmentVariable(Variable) is not null || Environment.GetEnvironmentVariable(LegacyVariable) is not null;

    /// <summary>The setting's value read as the runtime reads it: hexadecimal, with or without <c>0x</c>.</summary>
    internal static bool IsZero(string? value)
    {
        if (value is null)
        {
            return false;
        }

        ReadOnlySpan<char> digits = value.AsSpan().Trim();
        if (digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            digits = digits[2..];
        }

        return ulong.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong bytes) && bytes == 0;
    }
}
