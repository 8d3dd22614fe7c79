using System.Runtime.InteropServices;

namespace Gputel.Collector.Nvml;

/// <summary>
/// Finds and loads the NVML shared library. The default is the system driver's
/// <c>libnvidia-ml.so.1</c> (<c>nvml.dll</c> on Windows); a path given by the user wins,
/// because drivers live in odd places (containers, NixOS, a test driver). Entry points are
/// looked up one by one when first called (<see cref="GetExport"/>), so a driver that lacks some
/// still loads.
/// </summary>
public static class NvmlLibrary
{
    private static readonly Lock Gate = new();
    private static IntPtr _handle;
    private static string? _loadedFrom;
    private static int _generation;

    /// <summary>The library file name tried when no path is given.</summary>
    public static string DefaultName => OperatingSystem.IsWindows() ? "nvml.dll" : "libnvidia-ml.so.1";

    /// <summary>Where the library was loaded from, or null before the first load.</summary>
    public static string? LoadedFrom
    {
        get { lock (Gate) { return _loadedFrom; } }
    }

    /// <summary>Changes each time a library is bound, so cached entry points are looked up again.</summary>
    internal static int Generation => Volatile.Read(ref _generation);

    /// <summary>
    /// Loads the library once per process. Returns false with a one-line reason when it cannot be
    /// loaded. A second call with a different path fails: a process can bind only one NVML.
    /// </summary>
    public static bool TryLoad(string? path, out string? error)
    {
        string wanted = string.IsNullOrEmpty(path) ? DefaultName : path;
        lock (Gate)
        {
            if (_handle != IntPtr.Zero)
            {
                error = wanted == _loadedFrom ? null : $"NVML is already loaded from {_loadedFrom}; cannot switch to {wanted} in the same process";
                return error is null;
            }

            if (!NativeLibrary.TryLoad(wanted, out IntPtr handle))
            {
                error = path is null
                    ? $"no NVIDIA driver found ({DefaultName} could not be loaded)"
                    : $"the NVML library '{path}' could not be loaded (missing, or not a shared library for this platform)";
                return false;
            }

            Volatile.Write(ref _handle, handle);
            _loadedFrom = wanted;
            Interlocked.Increment(ref _generation);
            error = null;
            return true;
        }
    }

    /// <summary>The address of <paramref name="name"/> in the loaded library, or zero when it lacks it or none is loaded.</summary>
    internal static nint GetExport(string name)
    {
        IntPtr handle = Volatile.Read(ref _handle);
        return handle != IntPtr.Zero && NativeLibrary.TryGetExport(handle, name, out IntPtr address) ? address : 0;
    }

    /// <summary>
    /// Unbinds the loaded library so that <see cref="TryLoad"/> may bind another: for tests that
    /// compare driver builds in one process. No session may be open on the old one; the library
    /// stays mapped, since handles into it may still be held.
    /// </summary>
    internal static void Unbind()
    {
        lock (Gate)
        {
            Volatile.Write(ref _handle, IntPtr.Zero);
            _loadedFrom = null;
            Interlocked.Increment(ref _generation);
        }
    }
}
