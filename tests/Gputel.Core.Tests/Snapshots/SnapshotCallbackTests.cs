using System.Diagnostics;
using Gputel.Tests.Support;

namespace Gputel.Core.Tests.Snapshots;

/// <summary>The Python recorder users add to their training (tools/pytorch). Running it needs PyTorch and a GPU.</summary>
public sealed class SnapshotCallbackTests
{
    [Fact]
    public void The_recorder_is_valid_python()
    {
        string? python = Environment.GetEnvironmentVariable("PATH")?.Split(':').Select(d => Path.Combine(d, "python3")).FirstOrDefault(File.Exists);
        Assert.SkipWhen(python is null, "python3 is not installed");
        string script = Repo.Path("tools", "pytorch", "gputel_snapshot.py");
        var psi = new ProcessStartInfo(python!) { RedirectStandardError = true };
        // Compiled only, not imported: this machine has no PyTorch.
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])");
        psi.ArgumentList.Add(script);
        using Process p = Process.Start(psi)!;
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();

        Assert.True(p.ExitCode == 0, error);
        string text = File.ReadAllText(script);
        Assert.Contains("torch.cuda.memory._dump_snapshot", text, StringComparison.Ordinal);
        Assert.Contains("class GputelSnapshotCallback(TrainerCallback)", text, StringComparison.Ordinal);
    }
}
