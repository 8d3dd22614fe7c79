using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace Gputel.Core.Snapshots;

/// <summary>
/// Reads a pickle of built-in Python values (dict, list, tuple, set, str, bytes, int, float, bool,
/// None: what <c>torch.cuda.memory._dump_snapshot</c> writes), in one pass over the stream, turning
/// each stack frame dict (<c>filename</c>, <c>line</c>, <c>name</c>) into one shared
/// <see cref="StackFrame"/> as soon as it is complete, in the memo too. A general unpickler
/// (Razorvine.Pickle, which the tests check this against) keeps every frame as its own dict to the
/// end: 5.6 GB of memory for a 200 MB snapshot, whose millions of frames are a few thousand
/// distinct ones. Objects that need a class (GLOBAL, REDUCE, BUILD) are refused: a snapshot has none,
/// and running code from a file is never done.
/// </summary>
internal sealed class PickleStream
{
    private readonly Stream _input;
    private readonly long _length;
    private readonly List<object?> _stack = [];
    private readonly Stack<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = [];
    // The memo slots of dicts still being filled, so a finished frame dict is replaced there too.
    private readonly Dictionary<object, long> _pendingSlots = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<(string, long, string), StackFrame> _frames = [];
    private readonly Dictionary<string, string> _strings = new(StringComparer.Ordinal);
    private readonly byte[] _scratch = new byte[8];
    private byte[] _text = new byte[256];

    private PickleStream(Stream input)
    {
        _input = input;
        _length = input.CanSeek ? input.Length : long.MaxValue;
    }

    /// <summary>Reads one pickle from <paramref name="input"/>.</summary>
    /// <exception cref="InvalidDataException">Damaged, truncated, or holding more than built-in values.</exception>
    public static object? Load(Stream input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new PickleStream(input).Run();
    }

    private object? Run()
    {
        while (true)
        {
            int op = _input.ReadByte();
            switch (op)
            {
                case -1: throw new InvalidDataException("the file ends before the pickle does (truncated)");
                case 0x80: Byte(); break; // PROTO
                case 0x95: Fixed(8); break; // FRAME: a length hint only
                case '.': return _stack.Count == 1 ? _stack[0] : throw Bad("the pickle ends with a stack that is not one value");
                case '(': _marks.Push(_stack.Count); break;
                case '}': _stack.Add(new Dictionary<object, object?>()); break;
                case ']': _stack.Add(new List<object?>()); break;
                case ')': _stack.Add(Array.Empty<object?>()); break;
                case 0x8f: _stack.Add(new HashSet<object?>()); break; // EMPTY_SET
                case 'd': Push(ToDict(PopMark())); break;
                case 'l': Push(PopMark()); break;
                case 't': Push(PopMark().ToArray()); break;
                case 0x91: Push(new HashSet<object?>(PopMark())); break; // FROZENSET
                case 0x85: Push(new[] { Pop() }); break;
                case 0x86: { object? b = Pop(), a = Pop(); Push(new[] { a, b }); break; }
                case 0x87: { object? c = Pop(), b = Pop(), a = Pop(); Push(new[] { a, b, c }); break; }
                case 'a': { object? v = Pop(); AsList(Top()).Add(v); break; }
                case 'e': { List<object?> items = PopMark(); AsList(Top()).AddRange(items); break; }
                case 0x90: { List<object?> items = PopMark(); if (Top() is HashSet<object?> set) { set.UnionWith(items); } else { throw Bad("ADDITEMS on a value that is no set"); } break; }
                case 's': { object? v = Pop(), k = Pop(); SetItems(Top(), [k, v]); break; }
                case 'u': { List<object?> items = PopMark(); SetItems(Top(), items); break; }
                case 'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Fixed(4))); break;
                case 'K': Push((long)Byte()); break;
                case 'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Fixed(2))); break;
                case 0x8a: Push(Long(Byte())); break; // LONG1
                case 0x8b: Push(Long(Length(BinaryPrimitives.ReadInt32LittleEndian(Fixed(4))))); break; // LONG4
                case 'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Fixed(8))); break;
                case 'N': Push(null); break;
                case 0x88: Push(true); break;
                case 0x89: Push(false); break;
                case 0x8c: Push(Text(Byte())); break; // SHORT_BINUNICODE
                case 'X': Push(Text(Length(BinaryPrimitives.ReadUInt32LittleEndian(Fixed(4))))); break;
                case 0x8d: Push(Text(Length(BinaryPrimitives.ReadInt64LittleEndian(Fixed(8))))); break; // BINUNICODE8
                case 'U': Push(Latin1(Byte())); break; // SHORT_BINSTRING
                case 'T': Push(Latin1(Length(BinaryPrimitives.ReadInt32LittleEndian(Fixed(4))))); break;
                case 'C': Push(Bytes(Byte())); break; // SHORT_BINBYTES
                case 'B': Push(Bytes(Length(BinaryPrimitives.ReadUInt32LittleEndian(Fixed(4))))); break;
                case 0x8e: Push(Bytes(Length(BinaryPrimitives.ReadInt64LittleEndian(Fixed(8))))); break; // BINBYTES8
                case 0x94: Memoize(_memo.Count); break; // MEMOIZE
                case 'q': Memoize(Byte()); break;
                case 'r': Memoize(BinaryPrimitives.ReadUInt32LittleEndian(Fixed(4))); break;
                case 'p': Memoize(long.Parse(Line(), CultureInfo.InvariantCulture)); break;
                case 'h': Push(Get(Byte())); break;
                case 'j': Push(Get(BinaryPrimitives.ReadUInt32LittleEndian(Fixed(4)))); break;
                case 'g': Push(Get(long.Parse(Line(), CultureInfo.InvariantCulture))); break;
                case '0': Pop(); break;
                case '1': PopMark(); break;
                case '2': Push(Top()); break;
                case 'I': Push(TextInt(Line())); break;
                case 'L': Push(BigOrLong(BigInteger.Parse(Line().TrimEnd('L'), CultureInfo.InvariantCulture))); break;
                case 'F': Push(double.Parse(Line(), CultureInfo.InvariantCulture)); break;
                case 'V': Push(Intern(Line())); break;
                case 'S': Push(Intern(Line().Trim('\'', '"'))); break;
                case 'c' or 0x93 or 'R' or 'b' or 0x81 or 0x92 or 'i' or 'o' or 'P' or 'Q' or 0x82 or 0x83 or 0x84:
                    throw Bad("it holds Python objects of classes, not only built-in values (a memory snapshot has none)");
                default:
                    throw Bad(string.Create(CultureInfo.InvariantCulture, $"unknown opcode 0x{op:x2}"));
            }
        }
    }

    private static InvalidDataException Bad(string why) => new(why);

    private void Push(object? value) => _stack.Add(value);

    private object? Top() => _stack.Count > 0 ? _stack[^1] : throw Bad("an opcode needs a value and the stack is empty");

    private object? Pop()
    {
        object? top = Top();
        _stack.RemoveAt(_stack.Count - 1);
        return top;
    }

    private List<object?> PopMark()
    {
        if (_marks.Count == 0)
        {
            throw Bad("an opcode needs a MARK and there is none");
        }

        int mark = _marks.Pop();
        List<object?> items = _stack.GetRange(mark, _stack.Count - mark);
        _stack.RemoveRange(mark, _stack.Count - mark);
        return items;
    }

    private static List<object?> AsList(object? value) => value as List<object?> ?? throw Bad("APPEND on a value that is no list");

    private static Dictionary<object, object?> ToDict(List<object?> items)
    {
        var dict = new Dictionary<object, object?>();
        for (int i = 0; i + 1 < items.Count; i += 2)
        {
            dict[items[i] ?? throw Bad("a dict key is None")] = items[i + 1];
        }

        return dict;
    }

    private void SetItems(object? target, List<object?> items)
    {
        if (target is not Dictionary<object, object?> dict || items.Count % 2 != 0)
        {
            throw Bad("SETITEMS on a value that is no dict");
        }

        for (int i = 0; i < items.Count; i += 2)
        {
            dict[items[i] ?? throw Bad("a dict key is None")] = items[i + 1];
        }

        // A complete stack frame: one shared object from here on, on the stack and in the memo.
        if (dict.Count == 3 && dict.TryGetValue("filename", out object? file) && file is string f
            && dict.TryGetValue("name", out object? name) && name is string n && dict.TryGetValue("line", out object? line) && line is long l)
        {
            if (!_frames.TryGetValue((f, l, n), out StackFrame? frame))
            {
                frame = new StackFrame(f, (int)Math.Clamp(l, int.MinValue, int.MaxValue), n);
                _frames[(f, l, n)] = frame;
            }

            _stack[^1] = frame;
            if (_pendingSlots.Remove(dict, out long slot))
            {
                _memo[slot] = frame;
            }
        }
    }

    private void Memoize(long slot)
    {
        object? top = Top();
        _memo[slot] = top;
        if (top is Dictionary<object, object?> { Count: 0 } dict)
        {
            _pendingSlots[dict] = slot;
        }
    }

    private object? Get(long slot) => _memo.TryGetValue(slot, out object? value) ? value : throw Bad("a memo reference to nothing");

    private int Byte()
    {
        int b = _input.ReadByte();
        return b >= 0 ? b : throw Bad("the file ends before the pickle does (truncated)");
    }

    private byte[] Fixed(int count)
    {
        _input.ReadExactly(_scratch, 0, count);
        return _scratch;
    }

    // A length the rest of the file cannot hold is damage, not a reason to allocate it.
    private int Length(long length) => length >= 0 && length <= Math.Min(int.MaxValue, _length)
        ? (int)length
        : throw Bad("a length longer than the file");

    private ReadOnlySpan<byte> Raw(int length)
    {
        if (_text.Length < length)
        {
            _text = new byte[Math.Max(length, _text.Length * 2)];
        }

        _input.ReadExactly(_text, 0, length);
        return _text.AsSpan(0, length);
    }

    private string Text(int length) => Intern(Encoding.UTF8.GetString(Raw(length)));

    private string Latin1(int length) => Intern(Encoding.Latin1.GetString(Raw(length)));

    private byte[] Bytes(int length) => Raw(length).ToArray();

    private string Intern(string s)
    {
        if (_strings.TryGetValue(s, out string? known))
        {
            return known;
        }

        _strings[s] = s;
        return s;
    }

    private object Long(int length) => length == 0 ? 0L : BigOrLong(new BigInteger(Raw(length), isUnsigned: false, isBigEndian: false));

    private static object BigOrLong(BigInteger value) => value >= long.MinValue && value <= long.MaxValue ? (long)value : value;

    private static object TextInt(string text) => text switch
    {
        "01" => true,
        "00" => false,
        _ => BigOrLong(BigInteger.Parse(text, CultureInfo.InvariantCulture)),
    };

    private string Line()
    {
        var line = new StringBuilder();
        for (int b = Byte(); b != '\n'; b = Byte())
        {
            line.Append((char)b);
        }

        return line.ToString();
    }
}
