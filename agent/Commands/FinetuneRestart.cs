#if FINETUNE
using System.CommandLine;
using System.CommandLine.Help;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Gputel.Core.Memory;
using Gputel.Core.Training;

namespace Gputel.Agent.Commands;

/// <summary>
/// Starts <c>gputel finetune</c> (and <c>gputel estimate --device cpu</c>, which measures a short run)
/// over again, in the same process, with the .NET JIT's slab cache off (<see cref="JitSlabCache"/>): the
/// runtime reads that setting only at start-up, and with the cache on the JIT's memory, freed a few
/// seconds into a run, shows as megabytes of negative unattributed memory. The process image is
/// replaced (<c>execv</c> of the same executable with the same arguments, byte for byte), so the process
/// id, its terminal, its signals and its exit code stay the user's: no parent waits on a child.
/// Nothing has run yet but argument checks, so nothing is lost. Skipped where the variable is already
/// set (by the user, to any value, or by this restart), where a debugger or a diagnostics tool that
/// launched the process would lose it, and where the restart fails; run.json says which way it ran.
/// </summary>
internal static unsafe partial class FinetuneRestart
{
    /// <summary>Restarts with the cache off where the command measures the CPU allocator and nothing speaks against it; returns only when it does not.</summary>
    public static void IfNeeded(ParseResult parsed)
    {
        if (!OperatingSystem.IsLinux() || !MeasuresTheCpuAllocator(parsed) || JitSlabCache.IsSet
            // A debugger, or a tool that started the process on a diagnostic port it waits on
            // (dotnet-trace collect -- gputel ...), would lose the process at the exec.
            || Debugger.IsAttached || Environment.GetEnvironmentVariable("DOTNET_DiagnosticPorts") is not null
            || Environment.GetEnvironmentVariable("DOTNET_DefaultDiagnosticPortSuspend") is not null)
        {
            return;
        }

        byte[][]? argv = CommandLine();
        if (argv is null || argv.Length == 0 || setenv(JitSlabCache.Variable, "0", 1) != 0)
        {
            return;
        }

        // The runtime's diagnostics socket is named after the pid and the process's start time, which
        // the exec keeps, and the runtime being replaced never removes it: the new runtime could not
        // bind its own, and dotnet-counters or dotnet-trace could not attach.
        RemoveDiagnosticsSocket();
        Exec(argv);
        // Only reached where exec failed: go on with the cache as it is, and take the variable back so
        // that child processes see what this process runs with.
        unsetenv(JitSlabCache.Variable);
    }

    /// <summary>
    /// Whether the command reads malloc's figures against a baseline: a fine-tune on the CPU, and an estimate that
    /// measures the CPU runtime with a short run of its own (<c>--device cpu</c> without <c>--no-probe</c>).
    /// Not for <c>--help</c>, which runs nothing.
    /// </summary>
    internal static bool MeasuresTheCpuAllocator(ParseResult parsed) =>
        parsed.Action is not HelpAction && parsed.CommandResult.Command.Name switch
        {
            // A CUDA run measures the device's memory pool, not malloc.
            "finetune" => IsCpu(parsed),
            "estimate" => IsCpu(parsed) && !parsed.GetValue<bool>("--no-probe"),
            _ => false,
        };

    private static bool IsCpu(ParseResult parsed) =>
        ComputeDevice.TryParse(parsed.GetValue<string>("--device"), out ComputeDevice device) && device.IsCpu;

    /// <summary>
    /// This process's arguments as the kernel has them, each as its bytes (the host's own first, then
    /// the app's), or null: not decoded, so a path that is not UTF-8 reaches the exec unchanged.
    /// </summary>
    internal static byte[][]? CommandLine()
    {
        try
        {
            return Split(File.ReadAllBytes("/proc/self/cmdline"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The arguments of a <c>/proc/PID/cmdline</c>, or null where it is not NUL-terminated (cut short).</summary>
    internal static byte[][]? Split(byte[] raw)
    {
        // Each argument ends with a NUL; an empty argument is just its NUL.
        var args = new List<byte[]>();
        int start = 0;
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] == 0)
            {
                args.Add(raw[start..i]);
                start = i + 1;
            }
        }

        return start == raw.Length ? [.. args] : null;
    }

    private static void RemoveDiagnosticsSocket()
    {
        try
        {
            foreach (string socket in Directory.EnumerateFiles(Path.GetTempPath(), $"dotnet-diagnostic-{Environment.ProcessId}-*-socket"))
            {
                File.Delete(socket);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Attaching tools then fail as they would have; the run itself does not depend on it.
        }
    }

    private static void Exec(byte[][] argv)
    {
        var strings = new IntPtr[argv.Length + 1];
        try
        {
            for (int i = 0; i < argv.Length; i++)
            {
                strings[i] = Marshal.AllocHGlobal(argv[i].Length + 1);
                Marshal.Copy(argv[i], 0, strings[i], argv[i].Length);
                ((byte*)strings[i])[argv[i].Length] = 0;
            }

            fixed (IntPtr* pointers = strings)
            {
                // By the executable's own path, which names the process (ps, top, nvidia-smi) as
                // before; /proc/self/exe where it is not known.
                execv(Environment.ProcessPath ?? "/proc/self/exe", pointers);
            }
        }
        finally
        {
            foreach (IntPtr s in strings)
            {
                Marshal.FreeHGlobal(s);
            }
        }
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int setenv(string name, string value, int overwrite);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unsetenv(string name);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int execv(string path, IntPtr* argv);
}
#endif
