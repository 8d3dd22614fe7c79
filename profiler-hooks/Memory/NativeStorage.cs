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

    [LibraryImport(Library)]
    private static partial IntPtr THSTensor_grad(IntPtr tensor);

    [LibraryImport(Library)]
    private static partial void THSTensor_dispose(IntPtr tensor);

    /// <summary>The base address and size in bytes of the storage behind <paramref name="tensor"/>.</summary>
    public static (IntPtr Address, long Bytes) Of(torch.Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return (THSStorage_data_ptr(tensor.Handle), (long)THSStorage_nbytes(tensor.Handle));
    }

    /// <summary>
    /// The storage of <paramref name="parameter"/>'s gradient, or (zero, 0) where it has none.
    /// <c>parameter.grad</c> would wrap a new native reference in a managed tensor (registered with
    /// the current dispose scope, finalizable) on every call: at every phase end, for every parameter,
    /// that was most of what counting gradients cost. Here the reference is read and released at
    /// once, so the accounting never holds a gradient alive.
    /// </summary>
    public static (IntPtr Address, long Bytes) GradientOf(torch.Tensor parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        IntPtr grad = THSTensor_grad(parameter.Handle);
        if (grad == IntPtr.Zero)
        {
            // No gradient, or a native failure, which LibTorchSharp reports through its last error:
            // raised here, as TorchSharp would, rather than by the next unrelated call.
            torch.CheckForErrors();
            return (IntPtr.Zero, 0);
        }

        try
        {
            return (THSStorage_data_ptr(grad), (long)THSStorage_nbytes(grad));
        }
        finally
        {
            THSTensor_dispose(grad);
        }
    }
}
