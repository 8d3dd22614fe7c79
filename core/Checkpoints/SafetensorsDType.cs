namespace Gputel.Core.Checkpoints;

/// <summary>
/// The element types a safetensors header names in its <c>dtype</c> field. Every member is named
/// exactly as the header spells it, so parsing and writing need no table.
/// </summary>
public enum SafetensorsDType
{
    /// <summary>IEEE 754 binary32.</summary>
    F32,

    /// <summary>IEEE 754 binary16.</summary>
    F16,

    /// <summary>bfloat16: the top half of a binary32.</summary>
    BF16,

    /// <summary>IEEE 754 binary64.</summary>
    F64,

    /// <summary>Signed 64-bit integer.</summary>
    I64,

    /// <summary>Signed 32-bit integer.</summary>
    I32,

    /// <summary>Signed 16-bit integer.</summary>
    I16,

    /// <summary>Signed 8-bit integer.</summary>
    I8,

    /// <summary>Unsigned 8-bit integer.</summary>
    U8,

    /// <summary>Boolean, one byte per element (0 or 1).</summary>
    BOOL,

    /// <summary>8-bit float with 4 exponent and 3 mantissa bits (no infinities).</summary>
    F8_E4M3,

    /// <summary>8-bit float with 5 exponent and 2 mantissa bits.</summary>
    F8_E5M2,
}
