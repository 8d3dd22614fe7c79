namespace Gputel.Core.Checkpoints;

/// <summary>Sizes and header names of <see cref="SafetensorsDType"/>.</summary>
public static class SafetensorsDTypeExtensions
{
    /// <summary>Bytes one element of <paramref name="dtype"/> occupies.</summary>
    public static int ElementSize(this SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F64 or SafetensorsDType.I64 => 8,
        SafetensorsDType.F32 or SafetensorsDType.I32 => 4,
        SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.I16 => 2,
        SafetensorsDType.I8 or SafetensorsDType.U8 or SafetensorsDType.BOOL
            or SafetensorsDType.F8_E4M3 or SafetensorsDType.F8_E5M2 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a safetensors dtype"),
    };

    /// <summary>The <c>dtype</c> string the header uses for <paramref name="dtype"/>.</summary>
    public static string HeaderName(this SafetensorsDType dtype) =>
        Enum.IsDefined(dtype)
            ? dtype.ToString()
            : throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a safetensors dtype");

    /// <summary>
    /// Parses a header <c>dtype</c> string. Exact and case-sensitive, as the format is; numeric
    /// strings such as "0" are refused although <see cref="Enum.TryParse{TEnum}(string, out TEnum)"/> would take them.
    /// </summary>
    public static bool TryParseHeaderName(string name, out SafetensorsDType dtype)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (SafetensorsDType candidate in Enum.GetValues<SafetensorsDType>())
        {
            if (string.Equals(candidate.ToString(), name, StringComparison.Ordinal))
            {
                dtype = candidate;
                return true;
            }
        }
        dtype = default;
        return false;
    }
}
