using System.Runtime.InteropServices;
using Gputel.Collector.Nvml;
using Gputel.Collector.Sampling;

namespace Gputel.Tests.Support;

/// <summary>
/// The fake NVML driver (tests/fake-nvml), built on first use and loaded into this test process.
/// One process binds one NVML, so every test that uses it sits in the <see cref="FakeNvmlCollection"/>
/// (run one at a time) and swaps the driver's script with <see cref="Open"/>.
/// </summary>
internal static unsafe class FakeNvml
{
    private static delegate* unmanaged<byte*, int> _loadScript;
    private static delegate* unmanaged<byte*, ulong> _callCount;

    public static string LibraryPath => FakeNvmlBuild.LibraryPath;

    /// <summary>Loads <paramref name="script"/> into the fake driver and opens a session on it.</summary>
    public static GpuSession Open(string script)
    {
        LoadScript(script);
        GpuSession session = GpuSession.Open(LibraryPath);
        Assert.Null(session.UnavailableReason);
        return session;
    }

    /// <summary>How often <paramref name="function"/> was called, on all devices, since the script was loaded.</summary>
    public static ulong CallCount(string function)
    {
        if (_callCount == null)
        {
            _callCount = (delegate* unmanaged<byte*, ulong>)NativeLibrary.GetExport(NativeLibrary.Load(LibraryPath), "fake_nvml_call_count");
        }

        IntPtr utf8 = Marshal.StringToCoTaskMemUTF8(function);
        try
        {
            return _callCount((byte*)utf8);
        }
        finally
        {
            Marshal.FreeCoTaskMem(utf8);
        }
    }

    /// <summary>Replaces the fake driver's script (its clock restarts at zero).</summary>
    public static void LoadScript(string script)
    {
        if (!NvmlLibrary.TryLoad(LibraryPath, out string? error))
        {
            throw new InvalidOperationException(error);
        }

        if (_loadScript == null)
        {
            IntPtr handle = NativeLibrary.Load(LibraryPath);
            _loadScript = (delegate* unmanaged<byte*, int>)NativeLibrary.GetExport(handle, "fake_nvml_load_script");
        }

        string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"gputel-fake-{Guid.NewGuid():N}.txt");
        File.WriteAllText(path, script);
        IntPtr utf8 = Marshal.StringToCoTaskMemUTF8(path);
        try
        {
            Assert.Equal(0, _loadScript((byte*)utf8));
        }
        finally
        {
            Marshal.FreeCoTaskMem(utf8);
            File.Delete(path);
        }
    }
}

/// <summary>Tests that load the fake driver into this process run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FakeNvmlCollection
{
    public const string Name = "fake-nvml";
}
