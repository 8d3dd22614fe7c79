using System.Runtime.InteropServices;
using TorchSharp;

namespace Gputel.Profiler.Memory;

/// <summary>
/// Storage identity of tensors. TorchSharp has no public <c>data_ptr</c>, and <c>storage&lt;T&gt;()</c>
/// throws for bfloat16 and copies on dtype mismatch; LibTorchSharp's own exports answer for every
/// dtype, and views and transposes report the storage they share (PLATFORM.md).
/// </summary>
internal static partial class NativeStorage
{
    private const string Library = "LibTorchSharp";

    [LibraryImport(Library)]
    private static partial IntPtr THSStorage_data_ptr(IntPtr tensor);

    [LibraryImport(Library)]
    private static partial nuint THSStorage_nbytes(IntPtr tensor);

    /// <summary>The base address and size in bytes of the storage behind <paramref name="tensor"/>.</summary>
    public static (IntPtr Address, long Bytes) Of(torch.Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return (THSStorage_data_ptr(tensor.Handle), (long)THSStorage_nbytes(tensor.Handle));
    }
}
