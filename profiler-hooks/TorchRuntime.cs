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
    /// (<see cref="Memory.CpuAllocator.ConfigureForAccounting(bool)"/>).
    /// </summary>
    public static string EnsureLoaded(bool exactCpuPeaks = false)
    {
        Memory.CpuAllocator.ConfigureForAccounting(exactCpuPeaks);
        Memory.ResidentHighWater.NoteStartingMark();
        try
        {
            return torch.__version__;
        }
        catch (Exception e) when (e is NotSupportedException or DllNotFoundException or TypeInitializationException)
        {
            throw new InvalidOperationException(
                "libtorch could not be loaded. On Debian 12 / Ubuntu 22.04 this is libstdc++ without GLIBCXX_3.4.32: run ./setup.sh, "
                + "which installs libstdc++6 from Debian 13. Original error: " + e.Message, e);
        }
    }
}
