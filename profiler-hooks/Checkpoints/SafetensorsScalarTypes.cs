using System.Diagnostics.CodeAnalysis;
using Gputel.Core.Checkpoints;
using TorchSharp;

namespace Gputel.Profiler.Checkpoints;

/// <summary>The TorchSharp element types of <see cref="SafetensorsDType"/>.</summary>
public static class SafetensorsScalarTypes
{
    /// <summary>
    /// The TorchSharp element type for <paramref name="dtype"/>, or false for the 8-bit floats,
    /// which TorchSharp 0.107's <see cref="torch.ScalarType"/> cannot name.
    /// </summary>
    public static bool TryToScalarType(this SafetensorsDType dtype, out torch.ScalarType scalarType)
    {
        (bool known, scalarType) = dtype switch
        {
            SafetensorsDType.F32 => (true, torch.ScalarType.Float32),
            SafetensorsDType.F16 => (true, torch.ScalarType.Float16),
            SafetensorsDType.BF16 => (true, torch.ScalarType.BFloat16),
            SafetensorsDType.F64 => (true, torch.ScalarType.Float64),
            SafetensorsDType.I64 => (true, torch.ScalarType.Int64),
            SafetensorsDType.I32 => (true, torch.ScalarType.Int32),
            SafetensorsDType.I16 => (true, torch.ScalarType.Int16),
            SafetensorsDType.I8 => (true, torch.ScalarType.Int8),
            SafetensorsDType.U8 => (true, torch.ScalarType.Byte),
            SafetensorsDType.BOOL => (true, torch.ScalarType.Bool),
            _ => (false, default(torch.ScalarType)),
        };
        return known;
    }

    /// <summary>
    /// The safetensors dtype for a TorchSharp element type, or false for the complex and quantized
    /// types, which safetensors cannot hold.
    /// </summary>
    public static bool TryFromScalarType(torch.ScalarType scalarType, [NotNullWhen(true)] out SafetensorsDType? dtype)
    {
        dtype = scalarType switch
        {
            torch.ScalarType.Float32 => SafetensorsDType.F32,
            torch.ScalarType.Float16 => SafetensorsDType.F16,
            torch.ScalarType.BFloat16 => SafetensorsDType.BF16,
            torch.ScalarType.Float64 => SafetensorsDType.F64,
            torch.ScalarType.Int64 => SafetensorsDType.I64,
            torch.ScalarType.Int32 => SafetensorsDType.I32,
            torch.ScalarType.Int16 => SafetensorsDType.I16,
            torch.ScalarType.Int8 => SafetensorsDType.I8,
            torch.ScalarType.Byte => SafetensorsDType.U8,
            torch.ScalarType.Bool => SafetensorsDType.BOOL,
            _ => null,
        };
        return dtype is not null;
    }
}
