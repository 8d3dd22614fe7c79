using Gputel.Profiler.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gputel.Profiler.Tests.Training;

/// <summary>The optimizer-step peak probe: TorchSharp's optimizers walk the group each step, and the probe fires at the end of each walk.</summary>
public sealed class PeakProbeTests
{
    [Theory]
    [InlineData("adamw")]
    [InlineData("sgd")]
    public void The_probe_fires_once_per_optimizer_step_after_every_parameter(string kind)
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var layer = nn.Linear(32, 32);
        List<Parameter> parameters = [.. layer.parameters()];
        var marks = new List<string>();
        var group = new PeakProbeParameters(parameters, () => marks.Add("probe"), () => marks.Add("begin"));
        OptimizerHelper optimizer = kind == "adamw" ? optim.AdamW(group) : optim.SGD(group, 0.01, momentum: 0.9);

        for (int step = 0; step < 3; step++)
        {
            layer.call(randn(4, 32)).pow(2).mean().backward();
            group.Armed = true;
            optimizer.step();
            group.Armed = false;
            // Listing the state walks the group as well; unarmed, that marks nothing.
            _ = optimizer.state_dict();
            layer.zero_grad();
        }

        // The optimizer's construction walked the group too, unarmed.
        Assert.Equal(["begin", "probe", "begin", "probe", "begin", "probe"], marks);
        optimizer.Dispose();
    }
}
