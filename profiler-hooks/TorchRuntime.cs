using System.Runtime.InteropServices;
using TorchSharp;

namespace Gputel.Profiler;

/// <summary>Facts about the loaded libtorch, for run records and error messages.</summary>
public static class TorchRuntime
{
    /// <summary>
    /// Loads libtorch for the CPU and checks it can compute. On Debian 12 and Ubuntu 22.04 the load
    /// fails because libstdc++ lacks GLIBCXX_3.4.32; the message says so instead of TorchSharp's
    /// misleading one. Returns the libtorch version. The first call in a process also sets glibc up
    /// for the accounting, for exact CPU peaks where <paramref name="exactCpuPeaks"/> asks
    /// (<see cref="Memory.CpuAllocator.ConfigureForAccounting(bool)"/>), unless
    /// <paramref name="cpuAccounting"/> is false: a GPU run measures no host memory, and one malloc
    /// arena would only make its host threads wait on each other.
    /// </summary>
    public static string EnsureLoaded(bool exactCpuPeaks = false, bool cpuAccounting = true)
    {
        if (cpuAccounting)
        {
            Memory.CpuAllocator.ConfigureForAccounting(exactCpuPeaks);
            Memory.ResidentHighWater.NoteStartingMark();
        }

        try
        {
            return torch.__version__;
        }
        catch (Exception e) when (e is NotSupportedException or DllNotFoundException or TypeInitializationException)
        {
            throw new LibtorchLoadException(
                $"libtorch could not be loaded ({LoaderError("LibTorchSharp") ?? (e.InnerException ?? e).Message.Split('\n', 2)[0].Trim()}). Where the C++ library lacks GLIBCXX_3.4.32 (Debian 12, Ubuntu 22.04), run ./setup.sh, "
                + "which installs libstdc++6 from Debian 13; a build that takes libtorch from a PyTorch install needs its torch/lib on LD_LIBRARY_PATH "
                + "(bench/gpu-host/README.md)", e);
        }
    }

    /// <summary>The libtorch version TorchSharp was built for (a constant of its own, whatever is loaded).</summary>
    public static string BuiltFor => torch.__version__;

    /// <summary>
    /// The libtorch this process runs on, for run records: its version and directory, e.g.
    /// <c>2.11.0+cu130 (/opt/venv/lib/python3.12/site-packages/torch/lib)</c> for a PyTorch install's
    /// (from its <c>torch/version.py</c>), or the version TorchSharp was built for, with the directory
    /// of the bundled libraries. <c>torch.__version__</c> alone is TorchSharp's build-time constant,
    /// whatever was loaded. Call after <see cref="EnsureLoaded"/>.
    /// </summary>
    public static string Loaded()
    {
        string? path = null;
        try
        {
            path = File.ReadLines("/proc/self/maps")
                .Where(l => l.EndsWith("/libtorch_cpu.so", StringComparison.Ordinal) && l.Contains('/', StringComparison.Ordinal))
                .Select(l => l[l.IndexOf('/', StringComparison.Ordinal)..])
                .FirstOrDefault();
        }
        catch (IOException)
        {
            // No /proc: the version alone.
        }

        if (path is null || Path.GetDirectoryName(path) is not { } directory)
        {
            return torch.__version__;
        }

        string versionFile = Path.Combine(directory, "..", "version.py");
        string? version = null;
        if (File.Exists(versionFile))
        {
            // PyTorch writes it at build time: __version__ = '2.11.0+cu130'
            version = File.ReadLines(versionFile)
                .Where(l => l.StartsWith("__version__", StringComparison.Ordinal))
                .Select(l => l.Split('=', 2)[1].Trim().Trim('\'', '"'))
                .FirstOrDefault();
        }

        return $"{version ?? torch.__version__} ({directory})";
    }

    /// <summary>
    /// The dynamic loader's own words on why the native library <paramref name="name"/> does not
    /// load (a missing dependency, a symbol version the C++ library lacks), or null where it loads.
    /// TorchSharp tries its libraries quietly and, whatever the cause, says only that no package
    /// provides libtorch, with the loader's messages buried in its trace.
    /// </summary>
    private static string? LoaderError(string name)
    {
        try
        {
            NativeLibrary.Free(NativeLibrary.Load(name, typeof(torch).Assembly, null));
            return null;
        }
        catch (DllNotFoundException loader)
        {
            // One line per path tried; the one that found the file and failed on its contents says most.
            string[] lines = loader.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return lines.FirstOrDefault(l => l.Contains("version", StringComparison.Ordinal) || l.Contains("undefined symbol", StringComparison.Ordinal))
                // After .NET's first line, each path it tried begins with '/'; a line naming a bare
                // soname is the loader's about a dependency of a library it found ("libdep.so: cannot
                // open shared object file: ...", checked with .NET 10's message).
                ?? lines.Skip(1).FirstOrDefault(l => !l.StartsWith('/'))
                ?? lines.FirstOrDefault(l => !l.Contains("No such file", StringComparison.Ordinal) && l.Contains(".so", StringComparison.Ordinal))
                ?? $"no {name} library on the library path";
        }
    }

    /// <summary>
    /// Loads libtorch's CUDA backend and checks it sees a device. This build ships libtorch for the
    /// CPU only: the CUDA libraries come from a PyTorch installed on the host, found through
    /// <c>LD_LIBRARY_PATH</c> (its <c>site-packages/torch/lib</c>; bench/gpu-host/README.md). On failure,
    /// <paramref name="failure"/> says so in a line or two, without TorchSharp's loader trace.
    /// </summary>
    public static bool TryInitializeCuda(out string? failure)
    {
        try
        {
            torch.InitializeDeviceType(DeviceType.CUDA);
            failure = null;
            return true;
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or DllNotFoundException or EntryPointNotFoundException or ExternalException)
        {
            // Where libtorch_cuda loads, CUDA itself declined (the driver, or no device): then
            // TorchSharp's first line, without its trace.
            string first = LoaderError("torch_cuda") ?? e.Message.Split('\n', 2)[0].Split("Trace from", 2)[0].Trim().TrimEnd('.');
            failure = "libtorch's CUDA backend did not start (" + first + "). CUDA runs take libtorch from a PyTorch install: use a build "
                + "without the bundled CPU libtorch (published with -p:TorchFromHost=true, whose copies would otherwise load first) and put that "
                + "install's torch/lib on LD_LIBRARY_PATH, e.g. LD_LIBRARY_PATH=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')/lib";
            return false;
        }
    }
}

/// <summary>libtorch (or TorchSharp's native part) could not be loaded in this process; the message says why and what to do.</summary>
public sealed class LibtorchLoadException(string message, Exception inner) : InvalidOperationException(message, inner);
