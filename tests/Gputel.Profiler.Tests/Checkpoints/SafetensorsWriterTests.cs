using System.Buffers.Binary;
using System.Text;
using Gputel.Core.Checkpoints;
using Gputel.Profiler.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace Gputel.Profiler.Tests.Checkpoints;

/// <summary>The writer's layout, and that a failed write leaves nothing behind.</summary>
public sealed class SafetensorsWriterTests
{
    [Fact]
    public void The_header_is_space_padded_to_8_bytes_and_tensors_are_packed_in_the_given_order()
    {
        using var directory = new TempDirectory();
        string path = directory.File("t.safetensors");
        using Tensor b = ones(3, ScalarType.Int16);
        using Tensor a = ones(1, ScalarType.Float64);

        SafetensorsWriter.Write(path, [("b", b), ("a", a)]);

        byte[] content = File.ReadAllBytes(path);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(content);
        Assert.Equal(0UL, headerLength % 8);
        Assert.Equal(8 + (long)headerLength + 6 + 8, content.Length);
        string header = Encoding.UTF8.GetString(content, 8, (int)headerLength);
        Assert.Equal(
            """{"b":{"dtype":"I16","shape":[3],"data_offsets":[0,6]},"a":{"dtype":"F64","shape":[1],"data_offsets":[6,14]}}""",
            header.TrimEnd(' '));
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal(["b", "a"], file.Entries.Select(e => e.Name));
    }

    [Fact]
    public void Writing_replaces_an_existing_file()
    {
        using var directory = new TempDirectory();
        string path = directory.File("t.safetensors");
        File.WriteAllText(path, "old");
        using Tensor tensor = ones(2);

        SafetensorsWriter.Write(path, [("x", tensor)]);

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal(["t.safetensors"], directory.FileNames());
    }

    [Fact]
    public void A_raw_tensor_with_the_wrong_byte_count_leaves_no_file_behind()
    {
        using var directory = new TempDirectory();
        string path = directory.File("t.safetensors");

        ArgumentException e = Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(
            path, new (string, SafetensorsDType, long[], ReadOnlyMemory<byte>)[]
            {
                ("good", SafetensorsDType.U8, [1], new byte[1]),
                ("bad", SafetensorsDType.F32, [2], new byte[7]),
            }));

        Assert.Contains("'bad' has 7 bytes but dtype F32 and shape [2] need 8", e.Message, StringComparison.Ordinal);
        Assert.Empty(directory.FileNames());
    }

    [Theory]
    [InlineData("dup", "dup", "appears twice")]
    [InlineData("x", "__metadata__", "reserved for metadata")]
    public void A_bad_name_leaves_no_file_behind(string first, string second, string problem)
    {
        using var directory = new TempDirectory();
        using Tensor tensor = ones(2);

        ArgumentException e = Assert.Throws<ArgumentException>(
            () => SafetensorsWriter.Write(directory.File("t.safetensors"), [(first, tensor), (second, tensor)]));

        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
        Assert.Empty(directory.FileNames());
    }

    [Fact]
    public void A_tensor_type_safetensors_cannot_hold_leaves_no_file_behind()
    {
        using var directory = new TempDirectory();
        using Tensor complex = zeros(2, ScalarType.ComplexFloat32);

        ArgumentException e = Assert.Throws<ArgumentException>(
            () => SafetensorsWriter.Write(directory.File("t.safetensors"), [("c", complex)]));

        Assert.Contains("ComplexFloat32", e.Message, StringComparison.Ordinal);
        Assert.Empty(directory.FileNames());
    }

    /// <summary>
    /// A meta tensor has a shape and dtype but no data, so the header is written and the failure
    /// comes part-way through the data: the temporary file must go, and the old file stay.
    /// </summary>
    [Fact]
    public void A_failure_while_writing_data_removes_the_partial_file_and_keeps_the_old_one()
    {
        using var directory = new TempDirectory();
        string path = directory.File("t.safetensors");
        File.WriteAllText(path, "old");
        using Tensor good = ones(4);
        using Tensor meta = empty([4], ScalarType.Float32, device: new Device(DeviceType.META));

        Assert.ThrowsAny<Exception>(() => SafetensorsWriter.Write(path, [("good", good), ("meta", meta)]));

        Assert.Equal(["t.safetensors"], directory.FileNames());
        Assert.Equal("old", File.ReadAllText(path));
    }
}
