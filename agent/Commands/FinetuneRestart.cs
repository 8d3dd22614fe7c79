#if FINETUNE
using System.Runtime.InteropServices;
using System.Text;
using Gputel.Profiler.Memory;

namespace Gputel.Agent.Commands;

/// <summary>
/// Starts <c>gputel finetune</c> (and <c>gputel estimate --device cpu</c>, which measures a short run)
/// over again, in the same process, with the .NET JIT's slab cache off
/// (<see cref="JitSlabCache"/>): the runtime reads that setting only at start-up, and with the cache on
/// the JIT's memory, freed a few seconds into a run, shows as megabytes of negative unattributed.
/// The process image is replaced (<c>execv</c> of <c>/proc/self/exe</c> with the same arguments), so the
/// process id, its terminal, its signals and its exit code stay the user's: no parent waits on a child.
/// Nothing has run yet but argument checks, so nothing is lost. Where the variable is already set (by the
/// user, or by this restart) or the restart fails, the run goes on as it is; run.json says which.
/// </summary>
internal static partial class FinetuneRestart
{
    /// <summary>Restarts with the cache off where the command measures the CPU allocator and the variable is unset; returns only when it does not.</summary>
    public static void IfNeeded(string[] args)
    {
        if (!OperatingSystem.IsLinux() || !MeasuresTheCpuAllocator(args) || JitSlabCache.IsSet
            || args.Any(a => a is "-h" or "--help" or "-?" or "/?" or "/h"))
        {
            return;
        }

        string[]? argv = CommandLine();
        if (argv is null || argv.Length == 0)
        {
            return;
        }

        // The native environment, which execv passes on (Environment.SetEnvironmentVariable changes
        // only .NET's own copy on Linux).
        if (setenv(JitSlabCache.Variable, "0", 1) != 0)
        {
            return;
        }

        Console.Out.Flush();
        execv("/proc/self/exe", [.. argv, null]);
        // Only reached where exec failed: go on with the cache as it is, and take the variable back so
        // that child processes see what this process runs with.
        unsetenv(JitSlabCache.Variable);
    }

    /// <summary>
    /// Whether the command reads malloc's figures against a baseline: a fine-tune, and an estimate that
    /// measures the CPU runtime with a short run of its own (<c>--device cpu</c> without <c>--no-probe</c>).
    /// </summary>
    internal static bool MeasuresTheCpuAllocator(string[] args)
    {
        if (args.Length == 0)
        {
            return false;
        }

        if (args[0] == "finetune")
        {
            return true;
        }

        bool cpu = false;
        for (int i = 1; i < args.Length; i++)
        {
            cpu |= args[i] is "--device=cpu" or "--device:cpu" || (args[i] == "--device" && i + 1 < args.Length && args[i + 1] == "cpu");
        }

        return args[0] == "estimate" && cpu && !args.Contains("--no-probe");
    }

    /// <summary>This process's arguments as the kernel has them (the host's own first, then the app's), or null.</summary>
    private static string[]? CommandLine()
    {
        try
        {
            byte[] raw = File.ReadAllBytes("/proc/self/cmdline");
            string text = Encoding.UTF8.GetString(raw);
            return text.TrimEnd('\0').Split('\0');
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int setenv(string name, string value, int overwrite);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unsetenv(string name);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int execv(string path, string?[] argv);
}
#endif
