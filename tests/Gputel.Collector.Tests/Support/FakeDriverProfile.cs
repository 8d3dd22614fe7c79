using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Gputel.Collector.Nvml;
using Gputel.Collector.Sampling;

namespace Gputel.Tests.Support;

/// <summary>
/// The fake NVML driver built as one real driver branch exports it (tests/fake-nvml/build.sh
/// PROFILE, driver-branches.txt), bound in this process in place of the full fake driver. One
/// process binds one NVML at a time: <see cref="Dispose"/> binds the full fake driver back, and
/// tests using it sit in the <see cref="FakeNvmlCollection"/>.
/// </summary>
internal sealed unsafe class FakeDriverProfile : IDisposable
{
    private static readonly ConcurrentDictionary<string, Lazy<string>> Built = new();
    private delegate* unmanaged<byte*, ulong> _callCount;

    private FakeDriverProfile(string profile, string script)
    {
        LibraryPath = Build(profile);
        NvmlLibrary.Unbind();
        try
        {
            Session = Bind(script);
        }
        catch
        {
            // The other tests of this process expect the full fake driver.
            BindFullDriver();
            throw;
        }
    }

    /// <summary>The profile's library.</summary>
    public string LibraryPath { get; }

    /// <summary>The session open on it.</summary>
    public GpuSession Session { get; }

    private GpuSession Bind(string script)
    {
        IntPtr handle = NativeLibrary.Load(LibraryPath);
        var loadScript = (delegate* unmanaged<byte*, int>)NativeLibrary.GetExport(handle, "fake_nvml_load_script");
        _callCount = (delegate* unmanaged<byte*, ulong>)NativeLibrary.GetExport(handle, "fake_nvml_call_count");
        string path = Path.Combine(Path.GetTempPath(), $"gputel-fake-{Guid.NewGuid():N}.txt");
        File.WriteAllText(path, script);
        try
        {
            IntPtr utf8 = Marshal.StringToCoTaskMemUTF8(path);
            try
            {
                Assert.Equal(0, loadScript((byte*)utf8));
            }
            finally
            {
                Marshal.FreeCoTaskMem(utf8);
            }
        }
        finally
        {
            File.Delete(path);
        }

        GpuSession session = GpuSession.Open(LibraryPath);
        Assert.Null(session.UnavailableReason);
        return session;
    }

    /// <summary>Builds <paramref name="profile"/> (once per test process) and opens a session on it with <paramref name="script"/>.</summary>
    public static FakeDriverProfile Open(string profile, string script) => new(profile, script);

    /// <summary>The profile's library path, built on first use.</summary>
    public static string Build(string profile) =>
        Built.GetOrAdd(profile, p => new Lazy<string>(() => BuildScript.Run(
            Repo.Path("tests", "fake-nvml", "build.sh"), $"the fake NVML driver ({p})", Repo.Path("tests", "fake-nvml", "out"), p))).Value;

    /// <summary>How often <paramref name="function"/> was called in this profile's library since the script was loaded.</summary>
    public ulong CallCount(string function)
    {
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

    public void Dispose()
    {
        Session.Dispose();
        BindFullDriver();
    }

    private static void BindFullDriver()
    {
        NvmlLibrary.Unbind();
        Assert.True(NvmlLibrary.TryLoad(FakeNvml.LibraryPath, out string? error), error);
    }
}
