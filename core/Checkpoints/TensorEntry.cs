namespace Gputel.Core.Checkpoints;

/// <summary>One tensor as a safetensors header describes it.</summary>
public sealed class TensorEntry
{
    /// <summary>Creates an entry; the header parser has already checked the numbers agree.</summary>
    public TensorEntry(string name, SafetensorsDType dtype, IReadOnlyList<long> shape, long dataOffset, long byteLength)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        Name = name;
        DType = dtype;
        Shape = shape;
        DataOffset = dataOffset;
        ByteLength = byteLength;
    }

    /// <summary>The tensor's name, the key in the header.</summary>
    public string Name { get; }

    /// <summary>The element type.</summary>
    public SafetensorsDType DType { get; }

    /// <summary>The dimensions, outermost first; empty for a scalar.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>Where the tensor's bytes begin, counted from the first byte after the header.</summary>
    public long DataOffset { get; }

    /// <summary>How many bytes the tensor occupies: the element count times the element size.</summary>
    public long ByteLength { get; }

    /// <summary>The number of elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount => ByteLength / DType.ElementSize();

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {DType} [{string.Join(", ", Shape)}]";
}
