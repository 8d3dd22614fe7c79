using System.Buffers.Binary;
using System.Text;

namespace Gputel.Tests.Support;

/// <summary>
/// A small reader of the protobuf wire format (varint, fixed64, length-delimited, fixed32), enough
/// to decode what an OTLP exporter sends without generated code.
/// </summary>
internal sealed class WireReader(ReadOnlyMemory<byte> data)
{
    private int _position;

    /// <summary>Every field of the message, in order: number, wire type and raw value.</summary>
    public static List<(int Field, int Wire, ulong Number, ReadOnlyMemory<byte> Bytes)> Fields(ReadOnlyMemory<byte> message)
    {
        var reader = new WireReader(message);
        var fields = new List<(int, int, ulong, ReadOnlyMemory<byte>)>();
        while (reader._position < message.Length)
        {
            ulong tag = reader.Varint();
            int field = (int)(tag >> 3), wire = (int)(tag & 7);
            switch (wire)
            {
                case 0: fields.Add((field, wire, reader.Varint(), default)); break;
                case 1: fields.Add((field, wire, BinaryPrimitives.ReadUInt64LittleEndian(reader.Take(8).Span), default)); break;
                case 2: fields.Add((field, wire, 0, reader.Take((int)reader.Varint()))); break;
                case 5: fields.Add((field, wire, BinaryPrimitives.ReadUInt32LittleEndian(reader.Take(4).Span), default)); break;
                default: throw new InvalidDataException($"wire type {wire} of field {field}");
            }
        }

        return fields;
    }

    public static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    public static double Double(ulong bits) => BitConverter.Int64BitsToDouble((long)bits);

    private ulong Varint()
    {
        ulong value = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = data.Span[_position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }

    private ReadOnlyMemory<byte> Take(int length)
    {
        if (_position + length > data.Length)
        {
            throw new InvalidDataException("field runs past the end of the message");
        }

        ReadOnlyMemory<byte> slice = data.Slice(_position, length);
        _position += length;
        return slice;
    }
}
