using System.Reflection;
using System.Runtime.InteropServices;

namespace Gputel.Collector.Nvml;

/// <summary>
/// Finds and loads the NVML shared library. The default is the system driver's
/// <c>libnvidia-ml.so.1</c> (<c>nvml.dll</c> on Windows); a path given by the user wins,
/// because drivers live in odd places (containers, NixOS, a test driver).
/// </summary>
public static class NvmlLibrary
{
    private static readonly Lock Gate = new();
    private static IntPtr _handle;
    private static string? _loadedFrom;

    /// <summary>The library file name tried when no path is given.</summary>
    public static string DefaultName => OperatingSystem.IsWindows() ? "nvml.dll" : "libnvidia-ml.so.1";

    /// <summary>Where the library was loaded from, or null before the first load.</summary>
    public static string? LoadedFrom
    {
        get { lock (Gate) { return _loadedFrom; } }
    }

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

            _handle = handle;
            _loadedFrom = wanted;
            NativeLibrary.SetDllImportResolver(typeof(NvmlLibrary).Assembly, Resolve);
            error = null;
            return true;
        }
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        libraryName == Interop.Nvml.Library ? _handle : IntPtr.Zero;
}
