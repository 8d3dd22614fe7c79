using Gputel.Core.Checkpoints;
using Gputel.Profiler.Checkpoints;

namespace Gputel.Profiler.Tests.Checkpoints;

/// <summary>Corrupt files, crafted byte by byte, are refused with a message naming the file and the problem.</summary>
public sealed class SafetensorsValidationTests
{
    private const string Valid = """{"dtype":"F32","shape":[2],"data_offsets":[0,8]}""";

    public static TheoryData<string, string, int, string> BadHeaders => new()
    {
        { "not JSON", "{\"a\":", 0, "not valid JSON" },
        { "trailing comma", $$"""{"a":{{Valid}},}""", 8, "not valid JSON" },
        { "array", "[1,2]", 0, "a JSON array, not an object" },
        { "entry not object", """{"a":5}""", 0, "tensor 'a' is a JSON number, not an object" },
        { "missing dtype", """{"a":{"shape":[2],"data_offsets":[0,8]}}""", 8, "tensor 'a' is missing field 'dtype'" },
        { "missing shape", """{"a":{"dtype":"F32","data_offsets":[0,8]}}""", 8, "tensor 'a' is missing field 'shape'" },
        { "missing offsets", """{"a":{"dtype":"F32","shape":[2]}}""", 8, "tensor 'a' is missing field 'data_offsets'" },
        { "dtype not string", """{"a":{"dtype":1,"shape":[2],"data_offsets":[0,8]}}""", 8, "field 'dtype' is a JSON number, not string" },
        { "shape not array", """{"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}""", 8, "field 'shape' is a JSON number, not array" },
        { "shape fraction", """{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}""", 8, "shape[0] is 1.5, not an integer" },
        { "shape string", """{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}""", 8, "shape[0] is \"2\", not an integer" },
        { "unknown field", """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}""", 8, "unknown field 'x'" },
        { "unknown dtype", """{"a":{"dtype":"F128","shape":[2],"data_offsets":[0,8]}}""", 8, "unknown dtype 'F128'" },
        { "lowercase dtype", """{"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}""", 8, "unknown dtype 'f32'" },
        { "negative shape", """{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", 8, "shape[0] is negative (-2)" },
        { "overflowing shape", """{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}""", 8, "overflows a 64-bit byte count" },
        { "shape beyond int64", """{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}}""", 8, "not an integer that fits in 64 bits" },
        { "one offset", """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}""", 8, "has 1 data_offsets; expected 2" },
        { "negative offset", """{"a":{"dtype":"F32","shape":[0],"data_offsets":[-1,-1]}}""", 8, "data_offsets[0] is negative" },
        { "end before begin", """{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", 8, "end is before its begin" },
        { "past the data", """{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 8, "outside the data section, which holds 8 bytes" },
        { "length mismatch", """{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 12, "occupies 8 bytes but dtype F32 and shape [3] need 12" },
        {
            "overlap",
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""",
            12, "tensor 'b' at data_offsets [4, 12] overlaps tensor 'a' at [0, 8]"
        },
        {
            "overlap out of order",
            """{"b":{"dtype":"U8","shape":[2],"data_offsets":[8,10]},"big":{"dtype":"U8","shape":[10],"data_offsets":[0,10]},"c":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}""",
            10, "tensor 'c' at data_offsets [2, 3] overlaps tensor 'big' at [0, 10]"
        },
        { "duplicate name", $$"""{"a":{{Valid}},"a":{{Valid}}}""", 8, "names 'a' twice" },
        { "metadata not object", """{"__metadata__":[]}""", 0, "'__metadata__' is a JSON array, not an object of strings" },
        { "metadata value not string", """{"__metadata__":{"n":1}}""", 0, "'__metadata__' value for 'n' is a JSON number, not a string" },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void A_bad_header_is_refused(string description, string header, int dataLength, string problem)
    {
        Assert.NotEmpty(description);
        AssertRefused(SafetensorsBytes.Build(header, dataLength), problem);
    }

    [Fact]
    public void A_header_that_is_not_UTF_8_is_refused()
    {
        byte[] header = [.. "{\""u8, 0xff, .. "\":{}}"u8];
        AssertRefused([.. SafetensorsBytes.LengthField((ulong)header.Length), .. header], "the header is not valid UTF-8");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void A_file_shorter_than_the_length_field_is_refused(int length)
    {
        AssertRefused(new byte[length], $"the file is {length} bytes, shorter than the 8-byte header length field");
    }

    [Fact]
    public void A_header_length_past_the_end_of_the_file_is_refused()
    {
        AssertRefused([.. SafetensorsBytes.LengthField(100), .. "{}"u8], "the header length field says 100 bytes but only 2 follow it");
    }

    [Theory]
    [InlineData(100UL * 1024 * 1024 + 1)]
    [InlineData(ulong.MaxValue)]
    public void A_hostile_header_length_is_refused_without_allocating_it(ulong length)
    {
        AssertRefused([.. SafetensorsBytes.LengthField(length), .. "{}"u8], $"the header length field says {length} bytes, over the");
    }

    [Fact]
    public void An_empty_header_object_is_a_file_with_no_tensors()
    {
        using var directory = new TempDirectory();
        string path = directory.File("empty.safetensors");
        File.WriteAllBytes(path, SafetensorsBytes.Build("{}      ", 0));

        using SafetensorsFile file = SafetensorsFile.Open(path);

        Assert.Empty(file.Entries);
    }

    private static void AssertRefused(byte[] content, string problem)
    {
        using var directory = new TempDirectory();
        string path = directory.File("bad.safetensors");
        File.WriteAllBytes(path, content);

        SafetensorsException e = Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(path).Dispose());

        Assert.StartsWith(path + ": ", e.Message, StringComparison.Ordinal);
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
        Assert.Equal(path, e.FilePath);
    }
}
