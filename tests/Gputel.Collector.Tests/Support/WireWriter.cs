using System.Text;

namespace Gputel.Tests.Support;

/// <summary>Writes protobuf wire format by hand: field tags, varints, length-delimited fields.</summary>
internal static class WireWriter
{
    public static byte[] Message(params byte[][] fields) => [.. fields.SelectMany(f => f)];

    public static byte[] String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public static byte[] Bytes(int field, byte[] value) => [.. Varint(((ulong)field << 3) | 2), .. Varint((ulong)value.Length), .. value];

    public static byte[] Number(int field, ulong value) => [.. Varint((ulong)field << 3), .. Varint(value)];

    private static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>();
        do
        {
            byte b = (byte)(value & 0x7F);
            value >>= 7;
            bytes.Add(value == 0 ? b : (byte)(b | 0x80));
        }
        while (value != 0);
        return [.. bytes];
    }
}
