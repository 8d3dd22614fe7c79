namespace Gputel.Bench.Rig;

/// <summary>
/// Everything an 8-GPU fake node needs: the fake driver built, stand-in processes for the GPUs'
/// users, and the script describing it all in a temporary file.
/// </summary>
internal sealed class FakeGpuNode : IDisposable
{
    private readonly StandInProcesses _processes;

    public FakeGpuNode()
    {
        LibraryPath = RepoPaths.BuildFakeDriver();
        _processes = new StandInProcesses(FakeGpuScript.Gpus * FakeGpuScript.ProcessesPerGpu);
        try
        {
            ScriptPath = FakeGpuScript.WriteTempFile(_processes.Pids);
        }
        catch
        {
            _processes.Dispose();
            throw;
        }
    }

    /// <summary>The fake libnvidia-ml.so.1.</summary>
    public string LibraryPath { get; }

    /// <summary>The script; the driver reads it from FAKE_NVML_SCRIPT at its first nvmlInit.</summary>
    public string ScriptPath { get; }

    public const string ScriptVariable = "FAKE_NVML_SCRIPT";

    public void Dispose()
    {
        File.Delete(ScriptPath);
        _processes.Dispose();
    }
}
