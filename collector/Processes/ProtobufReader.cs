namespace Gputel.Collector.Processes;

/// <summary>
/// Reads the protobuf wire format field by field: enough for the few small messages of the
/// kubelet's pod-resources API, without generated code or a protobuf runtime.
/// Malformed input throws <see cref="InvalidDataException"/>.
/// </summary>
internal ref struct ProtobufReader(ReadOnlySpan<byte> data)
{
    public const int Varint = 0;
    public const int Fixed64 = 1;
    public const int LengthDelimited = 2;
    public const int Fixed32 = 5;

    private readonly ReadOnlySpan<byte> _data = data;
    private int _position;

    /// <summary>Reads the next field's tag; false at the end of the message.</summary>
    public bool TryReadTag(out int field, out int wireType)
    {
        if (_position >= _data.Length)
        {
            field = wireType = 0;
            return false;
        }

        ulong tag = ReadVarint();
        field = (int)(tag >> 3);
        wireType = (int)(tag & 7);
        return field > 0 ? true : throw new InvalidDataException("protobuf field number 0");
    }

    public ulong ReadVarint()
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (_position >= _data.Length)
            {
                throw new InvalidDataException("protobuf message ends inside a varint");
            }

            byte b = _data[_position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new InvalidDataException("protobuf varint longer than 10 bytes");
    }

    public ReadOnlySpan<byte> ReadBytes()
    {
        ulong length = ReadVarint();
        if (length > (ulong)(_data.Length - _position))
        {
            throw new InvalidDataException("protobuf length runs past the end of the message");
        }

        ReadOnlySpan<byte> bytes = _data.Slice(_position, (int)length);
        _position += (int)length;
        return bytes;
    }

    public string ReadString() => System.Text.Encoding.UTF8.GetString(ReadBytes());

    /// <summary>Skips a field this reader does not use (newer kubelets add fields; they are ignored).</summary>
    public void Skip(int wireType)
    {
        int size = wireType switch
        {
            Varint => -1,
            Fixed64 => 8,
            LengthDelimited => -2,
            Fixed32 => 4,
            _ => throw new InvalidDataException($"protobuf wire type {wireType} is not supported"),
        };
        if (size == -1)
        {
            ReadVarint();
        }
        else if (size == -2)
        {
            ReadBytes();
        }
        else if (_position + size > _data.Length)
        {
            throw new InvalidDataException("protobuf message ends inside a fixed-size field");
        }
        else
        {
            _position += size;
        }
    }
}
