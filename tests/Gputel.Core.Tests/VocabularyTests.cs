using System.Text.Json;
using Gputel.Core.Training;

namespace Gputel.Core.Tests;

/// <summary>Phases and devices: parsed once, printed and written as their names.</summary>
public sealed class VocabularyTests
{
    [Theory]
    [InlineData("forward", 0)]
    [InlineData("backward", 1)]
    [InlineData("optimizer_step", 2)]
    [InlineData("zero_grad", 3)]
    public void Phases_parse_print_and_serialise_as_their_names(string name, int index)
    {
        Phase phase = Phase.Parse(name);

        Assert.Equal(Phase.All[index], phase);
        Assert.Equal(index, phase.Index);
        Assert.Equal(name, phase.ToString());
        Assert.Equal(name, $"{phase}");
        Assert.Equal($"\"{name}\"", JsonSerializer.Serialize(phase));
        Assert.Equal(phase, JsonSerializer.Deserialize<Phase>($"\"{name}\""));
    }

    [Theory]
    [InlineData("Forward")]
    [InlineData("optimizer")]
    [InlineData("")]
    public void Other_phase_names_are_refused(string name)
    {
        Assert.False(Phase.TryParse(name, out _));
        Assert.Throws<ArgumentException>(() => Phase.Parse(name));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<Phase>($"\"{name}\""));
    }

    [Fact]
    public void Only_forward_begins_after_something_else_ran()
    {
        Assert.Equal([false, true, true, true], Phase.All.Select(p => p.BeginsWhereLastEnded));
    }

    [Theory]
    [InlineData("cpu", DeviceKind.Cpu, null)]
    [InlineData("cuda", DeviceKind.Cuda, null)]
    [InlineData("cuda:0", DeviceKind.Cuda, 0)]
    [InlineData("cuda:7", DeviceKind.Cuda, 7)]
    public void Devices_parse_and_print_back_as_written(string text, DeviceKind kind, int? ordinal)
    {
        ComputeDevice device = ComputeDevice.Parse(text);

        Assert.Equal(kind, device.Kind);
        Assert.Equal(ordinal, device.Ordinal);
        Assert.Equal(ordinal ?? 0, device.CudaOrdinal);
        Assert.Equal(kind == DeviceKind.Cpu, device.IsCpu);
        Assert.Equal(text, device.ToString());
        Assert.Equal($"\"{text}\"", JsonSerializer.Serialize(device));
        Assert.Equal(device, JsonSerializer.Deserialize<ComputeDevice>($"\"{text}\""));
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("CUDA")]
    [InlineData("cuda:")]
    [InlineData("cuda:-1")]
    [InlineData("cuda:+1")]
    [InlineData("cuda:1 ")]
    [InlineData("cpu:0")]
    public void Other_device_names_are_refused_with_the_options_wording(string text)
    {
        Assert.False(ComputeDevice.TryParse(text, out _));
        ArgumentException e = Assert.Throws<ArgumentException>(() => ComputeDevice.Parse(text));
        Assert.Equal($"invalid device '{text}': expected cpu, cuda or cuda:N", e.Message);
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<ComputeDevice>($"\"{text}\""));
    }
}
