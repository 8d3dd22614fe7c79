using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;
using Gputel.Core.Checkpoints;
using static TorchSharp.torch;

namespace Gputel.Profiler.Checkpoints;

/// <summary>
/// Writes safetensors files as the reference implementation does: header padded with spaces to
/// a multiple of 8 bytes, tensors packed back to back in the order given. The file appears
/// whole or not at all: it is written beside the target under a temporary name and renamed into
/// place, and the temporary file is deleted if anything fails.
/// </summary>
public static class SafetensorsWriter
{
    private const byte Space = (byte)' ';

    /// <summary>
    /// Writes <paramref name="tensors"/> (on any device, in any layout) to <paramref name="path"/>,
    /// replacing any file there. The tensors are not disposed.
    /// </summary>
    /// <exception cref="ArgumentException">A name is repeated or reserved, or a tensor's dtype has no safetensors equivalent.</exception>
    public static void Write(
        string path, IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var pending = new List<PendingTensor>();
        foreach ((string name, Tensor tensor) in tensors)
        {
            ArgumentNullException.ThrowIfNull(tensor, nameof(tensors));
            if (!SafetensorsScalarTypes.TryFromScalarType(tensor.dtype, out SafetensorsDType? dtype))
            {
                throw new ArgumentException($"Tensor '{name}' has dtype {tensor.dtype}, which safetensors cannot hold", nameof(tensors));
            }
            long[] shape = tensor.shape;
            pending.Add(new PendingTensor(name, dtype.Value, shape, ByteLength(name, dtype.Value, shape), stream => TensorBytes.WriteTo(tensor, stream)));
        }
        WriteFile(path, pending, metadata);
    }

    /// <summary>
    /// Writes raw tensors to <paramref name="path"/>, replacing any file there. Each
    /// <c>Data</c> holds the row-major little-endian bytes, exactly product(Shape) times the
    /// element size of <c>DType</c>.
    /// </summary>
    /// <exception cref="ArgumentException">A name is repeated or reserved, a dimension is negative, or a tensor's byte count does not match its dtype and shape.</exception>
    public static void Write(
        string path,
        IEnumerable<(string Name, SafetensorsDType DType, long[] Shape, ReadOnlyMemory<byte> Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var pending = new List<PendingTensor>();
        foreach ((string name, SafetensorsDType dtype, long[] shape, ReadOnlyMemory<byte> data) in tensors)
        {
            ArgumentNullException.ThrowIfNull(shape, nameof(tensors));
            long length = ByteLength(name, dtype, shape);
            if (data.Length != length)
            {
                throw new ArgumentException(
                    $"Tensor '{name}' has {data.Length} bytes but dtype {dtype.HeaderName()} and shape [{string.Join(", ", shape)}] need {length}",
                    nameof(tensors));
            }
            pending.Add(new PendingTensor(name, dtype, (long[])shape.Clone(), length, stream => stream.Write(data.Span)));
        }
        WriteFile(path, pending, metadata);
    }

    private static long ByteLength(string name, SafetensorsDType dtype, long[] shape)
    {
        ArgumentNullException.ThrowIfNull(name, nameof(name));
        int elementSize = Enum.IsDefined(dtype)
            ? dtype.ElementSize()
            : throw new ArgumentException($"Tensor '{name}' has undefined dtype {(int)dtype}", nameof(dtype));
        long count = 1;
        foreach (long dimension in shape)
        {
            if (dimension < 0)
            {
                throw new ArgumentException($"Tensor '{name}' has negative dimension in shape [{string.Join(", ", shape)}]", nameof(shape));
            }
            count = checked(count * dimension);
        }
        return checked(count * elementSize);
    }

    private static void WriteFile(string path, List<PendingTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        // Everything that can be checked is checked before the temporary file exists.
        byte[] header = Header(tensors, metadata);
        string fullPath = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(fullPath)!;
        string temporary = Path.Combine(directory, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
            {
                Span<byte> lengthField = stackalloc byte[sizeof(ulong)];
                BinaryPrimitives.WriteUInt64LittleEndian(lengthField, (ulong)header.Length);
                stream.Write(lengthField);
                stream.Write(header);
                foreach (PendingTensor tensor in tensors)
                {
                    long start = stream.Position;
                    tensor.WriteData(stream);
                    // The header already promised this many bytes; a tensor resized in place since would shift every later offset.
                    if (stream.Position - start != tensor.ByteLength)
                    {
                        throw new InvalidOperationException(
                            $"Tensor '{tensor.Name}' wrote {stream.Position - start} bytes, not the {tensor.ByteLength} its header entry says");
                    }
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>The header JSON, padded with spaces so that the data begins 8-byte aligned.</summary>
    private static byte[] Header(List<PendingTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var json = new MemoryStream();
        // Relaxed escaping keeps non-ASCII names readable; the header is never embedded in HTML.
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject(SafetensorsHeader.MetadataKey);
                foreach ((string key, string value) in metadata)
                {
                    ArgumentNullException.ThrowIfNull(value, nameof(metadata));
                    writer.WriteString(key, value);
                }
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (PendingTensor tensor in tensors)
            {
                if (tensor.Name == SafetensorsHeader.MetadataKey)
                {
                    throw new ArgumentException($"'{SafetensorsHeader.MetadataKey}' is reserved for metadata and cannot name a tensor", nameof(tensors));
                }
                if (!names.Add(tensor.Name))
                {
                    throw new ArgumentException($"Tensor name '{tensor.Name}' appears twice", nameof(tensors));
                }
                writer.WriteStartObject(tensor.Name);
                writer.WriteString("dtype", tensor.DType.HeaderName());
                writer.WriteStartArray("shape");
                foreach (long dimension in tensor.Shape)
                {
                    writer.WriteNumberValue(dimension);
                }
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + tensor.ByteLength);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += tensor.ByteLength;
            }
            writer.WriteEndObject();
        }

        int padding = (int)((8 - json.Length % 8) % 8);
        for (int i = 0; i < padding; i++)
        {
            json.WriteByte(Space);
        }
        if (json.Length > SafetensorsHeader.MaxLength)
        {
            throw new ArgumentException($"The header would be {json.Length} bytes, over the 100 MiB readers accept", nameof(tensors));
        }
        return json.ToArray();
    }

    /// <summary>A tensor checked and measured, waiting for its bytes to be written.</summary>
    private sealed record PendingTensor(string Name, SafetensorsDType DType, long[] Shape, long ByteLength, Action<Stream> WriteData);
}
