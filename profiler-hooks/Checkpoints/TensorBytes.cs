using TorchSharp;
using static TorchSharp.torch;

namespace Gputel.Profiler.Checkpoints;

/// <summary>
/// Copies a tensor's raw bytes to and from memory. TorchSharp's <see cref="Tensor.bytes"/> is a
/// <see cref="Span{T}"/> and so stops at 2 GiB; bigger tensors (a 128k-token embedding in bf16
/// is one) go through 1-D views of at most <see cref="ChunkBytes"/> each.
/// </summary>
internal static class TensorBytes
{
    /// <summary>The most bytes copied through one span.</summary>
    internal const int ChunkBytes = 1 << 30;

    /// <summary>
    /// Fills <paramref name="destination"/>, a contiguous CPU tensor, with the
    /// <paramref name="length"/> bytes at <paramref name="source"/>.
    /// </summary>
    internal static unsafe void CopyInto(Tensor destination, byte* source, long length)
    {
        ForEachChunk(destination, length, (chunk, offset) =>
            new ReadOnlySpan<byte>(source + offset, chunk.Length).CopyTo(chunk));
    }

    /// <summary>Writes the row-major bytes of <paramref name="source"/>, on any device and in any layout, to <paramref name="stream"/>.</summary>
    internal static void WriteTo(Tensor source, Stream stream)
    {
        // The scope frees the CPU and contiguous copies; when source already is both, cpu() and
        // contiguous() hand it back without creating anything, so the caller's tensor survives.
        using DisposeScope scope = NewDisposeScope();
        Tensor data = source.cpu().contiguous();
        ForEachChunk(data, data.numel() * data.ElementSize, (chunk, _) => stream.Write(chunk));
    }

    private delegate void ChunkAction(Span<byte> chunk, long offset);

    private static void ForEachChunk(Tensor tensor, long length, ChunkAction action)
    {
        if (length == 0)
        {
            // An empty tensor may have no storage at all; asking for its bytes fails.
            return;
        }
        if (length <= ChunkBytes)
        {
            action(tensor.bytes, 0);
            return;
        }
        long elementSize = tensor.ElementSize;
        long elementsPerChunk = ChunkBytes / elementSize;
        using Tensor flat = tensor.view(-1);
        for (long start = 0; start < flat.shape[0]; start += elementsPerChunk)
        {
            using Tensor part = flat.narrow(0, start, Math.Min(elementsPerChunk, flat.shape[0] - start));
            action(part.bytes, start * elementSize);
        }
    }
}
