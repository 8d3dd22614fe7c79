using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.MemoryMappedFiles;
using Gputel.Core.Checkpoints;
using static TorchSharp.torch;

namespace Gputel.Profiler.Checkpoints;

/// <summary>
/// An open safetensors file: the header parsed and checked when opened, the tensor data
/// memory-mapped so that a tensor's bytes are read from disk only when asked for.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly Dictionary<string, TensorEntry> _byName;
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly long _dataStart;
    private byte* _file;
    private bool _disposed;

    private SafetensorsFile(string path, SafetensorsHeader header, long dataStart, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* file)
    {
        Path = path;
        Entries = header.Entries;
        Metadata = header.Metadata;
        _byName = header.Entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        _dataStart = dataStart;
        _map = map;
        _view = view;
        _file = file;
    }

    /// <summary>The file's path as given to <see cref="Open"/>.</summary>
    public string Path { get; }

    /// <summary>The tensors, in the order the header lists them.</summary>
    public IReadOnlyList<TensorEntry> Entries { get; }

    /// <summary>The header's <c>__metadata__</c>, empty when it has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>
    /// Opens <paramref name="path"/>, reading and checking its header.
    /// </summary>
    /// <exception cref="SafetensorsException">The file is not valid safetensors; the message says why.</exception>
    public static SafetensorsFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.RandomAccess);
        long fileLength = stream.Length;
        if (fileLength < sizeof(ulong))
        {
            throw new SafetensorsException(path, $"the file is {fileLength} bytes, shorter than the 8-byte header length field");
        }

        Span<byte> lengthField = stackalloc byte[sizeof(ulong)];
        stream.ReadExactly(lengthField);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthField);
        if (headerLength > SafetensorsHeader.MaxLength)
        {
            throw new SafetensorsException(
                path, $"the header length field says {headerLength} bytes, over the {SafetensorsHeader.MaxLength}-byte (100 MiB) limit");
        }
        long dataStart = sizeof(ulong) + (long)headerLength;
        if (dataStart > fileLength)
        {
            throw new SafetensorsException(
                path, $"the header length field says {headerLength} bytes but only {fileLength - sizeof(ulong)} follow it");
        }

        byte[] json = new byte[headerLength];
        stream.ReadExactly(json);
        SafetensorsHeader header = SafetensorsHeader.Parse(json, fileLength - dataStart, path);

        if (fileLength == dataStart)
        {
            // Only empty tensors (or none): nothing to map, and an empty range cannot be mapped.
            return new SafetensorsFile(path, header, dataStart, null, null, null);
        }

        MemoryMappedFile map = MemoryMappedFile.CreateFromFile(
            stream, mapName: null, capacity: 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* file = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref file);
            return new SafetensorsFile(path, header, dataStart, map, view, file + view.PointerOffset);
        }
        catch
        {
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    /// <summary>Finds the entry for tensor <paramref name="name"/>.</summary>
    public bool TryGetEntry(string name, [NotNullWhen(true)] out TensorEntry? entry) => _byName.TryGetValue(name, out entry);

    /// <summary>The entry for tensor <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">The file has no such tensor.</exception>
    public TensorEntry GetEntry(string name) =>
        _byName.TryGetValue(name, out TensorEntry? entry)
            ? entry
            : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    /// <summary>
    /// The raw bytes of tensor <paramref name="name"/>, row-major and little-endian, straight from
    /// the mapped file: no copy, valid until this file is disposed. Tensors over 2 GiB do not
    /// fit a span; use <see cref="ToTensor"/> for those.
    /// </summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        TensorEntry entry = GetEntry(name);
        if (entry.ByteLength > int.MaxValue)
        {
            throw new NotSupportedException($"{Path}: tensor '{name}' is {entry.ByteLength} bytes, too large for a span");
        }
        return new ReadOnlySpan<byte>(DataPointer(entry), (int)entry.ByteLength);
    }

    /// <summary>A copy of the raw bytes of tensor <paramref name="name"/>.</summary>
    public byte[] ReadBytes(string name) => GetBytes(name).ToArray();

    /// <summary>
    /// Tensor <paramref name="name"/> as a new CPU tensor of its dtype and shape, bit-exact, not
    /// sharing memory with the file. The caller owns and disposes it.
    /// </summary>
    /// <exception cref="NotSupportedException">The dtype is an 8-bit float, which TorchSharp 0.107 has no type for.</exception>
    public Tensor ToTensor(string name)
    {
        TensorEntry entry = GetEntry(name);
        if (!entry.DType.TryToScalarType(out ScalarType scalarType))
        {
            throw new NotSupportedException(
                $"{Path}: tensor '{name}' has dtype {entry.DType.HeaderName()}, which TorchSharp has no type for; read its bytes instead");
        }
        byte* source = DataPointer(entry);
        Tensor tensor = empty(entry.Shape.ToArray(), scalarType);
        try
        {
            TensorBytes.CopyInto(tensor, source, entry.ByteLength);
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>Unmaps the file. Spans from <see cref="GetBytes"/> must not be used afterwards.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _file = null;
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }

    private byte* DataPointer(TensorEntry entry)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // Null only when every tensor is empty, and then no offset is ever added to it.
        return _file is null ? null : _file + _dataStart + entry.DataOffset;
    }
}
