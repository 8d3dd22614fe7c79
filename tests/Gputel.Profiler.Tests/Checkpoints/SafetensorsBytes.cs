using System.Buffers.Binary;
using System.Text;

namespace Gputel.Profiler.Tests.Checkpoints;

/// <summary>Builds safetensors files byte by byte, independently of the writer under test.</summary>
internal static class SafetensorsBytes
{
    /// <summary>The 8-byte little-endian length of <paramref name="header"/>, the header, then <paramref name="data"/>.</summary>
    public static byte[] Build(string header, byte[] data)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        return [.. LengthField((ulong)json.Length), .. json, .. data];
    }

    /// <summary>As <see cref="Build(string, byte[])"/> with <paramref name="dataLength"/> bytes counting up from 0.</summary>
    public static byte[] Build(string header, int dataLength) =>
        Build(header, Enumerable.Range(0, dataLength).Select(i => (byte)i).ToArray());

    public static byte[] LengthField(ulong length)
    {
        var field = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(field, length);
        return field;
    }
}
