using System.Reflection;
using System.Xml.Linq;
using Gputel.Core.Records;
using Gputel.Tests.Support;

namespace Gputel.Core.Tests;

/// <summary>What keeps the core deployable without libtorch.</summary>
public sealed class CoreIsTorchFreeTests
{
    [Fact]
    public void The_core_assembly_references_no_TorchSharp_and_no_profiler()
    {
        AssemblyName[] references = typeof(RunRecordReader).Assembly.GetReferencedAssemblies();

        Assert.DoesNotContain(references, r => r.Name!.Contains("Torch", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(references, r => r.Name is "Gputel.Profiler" or "Gputel.Collector");
    }

    [Fact]
    public void The_core_project_has_no_TorchSharp_package_and_no_project_reference()
    {
        var project = XDocument.Load(Repo.Path("core", "Gputel.Core.csproj"));
        string[] packages = project.Descendants("PackageReference").Select(p => (string)p.Attribute("Include")!).ToArray();

        Assert.NotEmpty(packages);
        Assert.DoesNotContain(packages, p => p.Contains("Torch", StringComparison.OrdinalIgnoreCase));
        Assert.Empty(project.Descendants("ProjectReference"));
    }
}
