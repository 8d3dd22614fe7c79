using Gputel.Core.Checkpoints;
using Gputel.Profiler.Checkpoints;
using static TorchSharp.torch;

namespace Gputel.Profiler.Tests.Checkpoints;

/// <summary>Tensors written by <see cref="SafetensorsWriter"/> read back bit for bit.</summary>
public sealed class SafetensorsRoundTripTests
{
    public static TheoryData<ScalarType, SafetensorsDType> DTypes => new()
    {
        { ScalarType.Float32, SafetensorsDType.F32 },
        { ScalarType.Float16, SafetensorsDType.F16 },
        { ScalarType.BFloat16, SafetensorsDType.BF16 },
        { ScalarType.Float64, SafetensorsDType.F64 },
        { ScalarType.Int64, SafetensorsDType.I64 },
        { ScalarType.Int32, SafetensorsDType.I32 },
        { ScalarType.Int16, SafetensorsDType.I16 },
        { ScalarType.Int8, SafetensorsDType.I8 },
        { ScalarType.Byte, SafetensorsDType.U8 },
        { ScalarType.Bool, SafetensorsDType.BOOL },
    };

    /// <summary>
    /// Random bit patterns, so NaN payloads, subnormals and negative zero must survive too, and
    /// shapes that include a scalar and an empty tensor.
    /// </summary>
    [Theory]
    [MemberData(nameof(DTypes))]
    public void Every_dtype_round_trips_bit_exact(ScalarType scalarType, SafetensorsDType dtype)
    {
        using var directory = new TempDirectory();
        string path = directory.File("t.safetensors");
        using Tensor matrix = RandomBits([3, 5], scalarType, seed: 1);
        using Tensor scalar = RandomBits([], scalarType, seed: 2);
        using Tensor empty = RandomBits([2, 0], scalarType, seed: 3);

        SafetensorsWriter.Write(path, [("matrix", matrix), ("scalar", scalar), ("empty", empty)]);

        using SafetensorsFile file = SafetensorsFile.Open(path);
        foreach ((string name, Tensor original) in new[] { ("matrix", matrix), ("scalar", scalar), ("empty", empty) })
        {
            TensorEntry entry = file.GetEntry(name);
            Assert.Equal(dtype, entry.DType);
            Assert.Equal(original.shape, entry.Shape);
            byte[] expected = original.numel() == 0 ? [] : original.bytes.ToArray();
            Assert.Equal(expected, file.ReadBytes(name));

            using Tensor loaded = file.ToTensor(name);
            Assert.Equal(scalarType, loaded.dtype);
            Assert.Equal(original.shape, loaded.shape);
            Assert.Equal(expected, loaded.numel() == 0 ? [] : loaded.bytes.ToArray());
        }
    }

    [Fact]
    public void A_non_contiguous_tensor_is_written_in_row_major_order()
    {
        using var directory = new TempDirectory();
        string path = directory.File("t.safetensors");
        using Tensor source = arange(6, ScalarType.Int32).reshape(2, 3);
        using Tensor transposed = source.t();
        Assert.False(transposed.is_contiguous());

        SafetensorsWriter.Write(path, [("t", transposed)]);

        using SafetensorsFile file = SafetensorsFile.Open(path);
        using Tensor loaded = file.ToTensor("t");
        Assert.Equal([3L, 2L], loaded.shape);
        Assert.Equal([0, 3, 1, 4, 2, 5], loaded.data<int>().ToArray());
    }

    [Fact]
    public void Metadata_round_trips()
    {
        using var directory = new TempDirectory();
        string path = directory.File("t.safetensors");
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "naïve \"quoted\" \n line" };
        using Tensor tensor = ones(2);

        SafetensorsWriter.Write(path, [("x", tensor)], metadata);

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal(metadata, file.Metadata);
    }

    [Fact]
    public void A_file_without_metadata_has_empty_metadata()
    {
        using var directory = new TempDirectory();
        string path = directory.File("t.safetensors");
        using Tensor tensor = ones(2);

        SafetensorsWriter.Write(path, [("x", tensor)]);

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Empty(file.Metadata);
    }

    [Fact]
    public void Raw_tensors_round_trip_including_8_bit_floats()
    {
        using var directory = new TempDirectory();
        string path = directory.File("t.safetensors");
        byte[] fp8 = [0x00, 0x38, 0x7f, 0xff];
        byte[] f32 = BitConverter.GetBytes(1.5f);

        SafetensorsWriter.Write(path, new (string, SafetensorsDType, long[], ReadOnlyMemory<byte>)[]
        {
            ("e4m3", SafetensorsDType.F8_E4M3, [2, 2], fp8),
            ("f32", SafetensorsDType.F32, [], f32),
        });

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal(fp8, file.ReadBytes("e4m3"));
        Assert.Equal(SafetensorsDType.F8_E4M3, file.GetEntry("e4m3").DType);
        using Tensor scalar = file.ToTensor("f32");
        Assert.Equal(1.5f, scalar.item<float>());
        NotSupportedException e = Assert.Throws<NotSupportedException>(() => file.ToTensor("e4m3"));
        Assert.Contains("F8_E4M3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_hand_written_reference_file_reads_correctly()
    {
        using var directory = new TempDirectory();
        string path = directory.File("ref.safetensors");
        byte[] data = [.. BitConverter.GetBytes(1.0f), .. BitConverter.GetBytes(-2.5f)];
        File.WriteAllBytes(path, SafetensorsBytes.Build("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", data));

        using SafetensorsFile file = SafetensorsFile.Open(path);
        TensorEntry entry = Assert.Single(file.Entries);
        Assert.Equal("a", entry.Name);
        Assert.Equal(SafetensorsDType.F32, entry.DType);
        Assert.Equal([2L], entry.Shape);
        Assert.Equal(0, entry.DataOffset);
        Assert.Equal(8, entry.ByteLength);
        Assert.Equal(2, entry.ElementCount);
        Assert.Equal(data, file.GetBytes("a").ToArray());
        using Tensor tensor = file.ToTensor("a");
        Assert.Equal([1.0f, -2.5f], tensor.data<float>().ToArray());
    }

    [Fact]
    public void Gaps_between_tensors_are_allowed()
    {
        using var directory = new TempDirectory();
        string path = directory.File("gap.safetensors");
        File.WriteAllBytes(path, SafetensorsBytes.Build(
            """{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}}""", 10));

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal([0, 1], file.ReadBytes("a"));
        Assert.Equal([6, 7], file.ReadBytes("b"));
    }

    [Fact]
    public void Reading_after_dispose_throws()
    {
        using var directory = new TempDirectory();
        string path = directory.File("t.safetensors");
        using Tensor tensor = ones(2);
        SafetensorsWriter.Write(path, [("x", tensor)]);

        SafetensorsFile file = SafetensorsFile.Open(path);
        file.Dispose();

        Assert.Throws<ObjectDisposedException>(() => file.ReadBytes("x"));
    }

    private static Tensor RandomBits(long[] shape, ScalarType scalarType, int seed)
    {
        Tensor tensor = empty(shape, scalarType);
        if (tensor.numel() > 0)
        {
            Span<byte> bytes = tensor.bytes;
            new Random(seed).NextBytes(bytes);
            if (scalarType == ScalarType.Bool)
            {
                // Any byte but 0 or 1 is not a valid bool.
                foreach (ref byte b in bytes)
                {
                    b &= 1;
                }
            }
        }
        return tensor;
    }
}
