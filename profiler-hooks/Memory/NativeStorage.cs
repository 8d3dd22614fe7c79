using System.Runtime.InteropServices;
using TorchSharp;

namespace Gputel.Profiler.Memory;

/// <summary>
/// Storage identity of tensors. TorchSharp has no public <c>data_ptr</c>, and <c>storage&lt;T&gt;()</c>
/// throws for bfloat16 and copies on dtype mismatch; LibTorchSharp's own exports answer for every
/// dtype, and views and transposes report the storage they share (<c>THSStorage_data_ptr</c>,
/// <c>THSStorage_nbytes</c>).
/// </summary>
internal static unsafe partial class NativeStorage
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

    // at::Tensor::grad() const, which LibTorchSharp exports (an inline function it instantiates): a
    // reference to the gradient the parameter's autograd metadata holds, or to an undefined tensor.
    // A TorchSharp handle is an at::Tensor*, so the reference can be passed on to THSStorage_* as one.
    // Unlike THSTensor_grad it makes no new native tensor to dispose: no malloc and free, no reference
    // count taken and dropped, per parameter per phase end. Null where this libtorch lacks the export
    // or the self-check below fails; the gradients are then read through THSTensor_grad.
    private static readonly delegate* unmanaged<IntPtr, IntPtr> GradientReference;

    // c10::UndefinedTensorImpl's singleton: an at::Tensor whose TensorImpl* is this one is undefined.
    private static readonly IntPtr UndefinedImpl;

    static NativeStorage()
    {
        try
        {
            if (NativeLibrary.TryLoad(Library, typeof(NativeStorage).Assembly, null, out IntPtr torchSharp)
                && NativeLibrary.TryGetExport(torchSharp, "_ZNK2at6Tensor4gradEv", out IntPtr grad)
                && NativeLibrary.TryLoad("libc10.so", out IntPtr c10)
                && NativeLibrary.TryGetExport(c10, "_ZN3c1019UndefinedTensorImpl10_singletonE", out IntPtr undefined))
            {
                // Checked once on a tensor that has no gradient: its reference must be the undefined
                // tensor, else this libtorch's layout is not the one assumed and the export is not used.
                using torch.Tensor probe = torch.zeros(1);
                var read = (delegate* unmanaged<IntPtr, IntPtr>)grad;
                IntPtr reference = read(probe.Handle);
                if (reference != IntPtr.Zero && *(IntPtr*)reference == undefined)
                {
                    GradientReference = read;
                    UndefinedImpl = undefined;
                }
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            GradientReference = null;
        }
    }

    /// <summary>Whether gradients are read by reference (<c>at::Tensor::grad</c>) rather than through a new native tensor each.</summary>
    internal static bool ReadsGradientByReference => GradientReference != null;

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
    /// that was most of what counting gradients cost. Here the gradient is read by reference where
    /// this libtorch allows it, else through a native reference released at once, so the accounting
    /// never holds a gradient alive. By reference, nothing keeps the gradient alive during the read:
    /// call it where no other thread sets or clears the parameter's gradient (the accountant reads
    /// at phase ends, on the training thread).
    /// </summary>
    public static (IntPtr Address, long Bytes) GradientOf(torch.Tensor parameter) =>
        GradientOf(parameter, byReference: GradientReference != null);

    /// <summary><see cref="GradientOf(torch.Tensor)"/>, by reference or not (tests compare the two).</summary>
    internal static (IntPtr Address, long Bytes) GradientOf(torch.Tensor parameter, bool byReference)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        if (byReference && GradientReference != null)
        {
            IntPtr reference = GradientReference(parameter.Handle);
            return reference == IntPtr.Zero || *(IntPtr*)reference == UndefinedImpl
                ? (IntPtr.Zero, 0)
                : (THSStorage_data_ptr(reference), (long)THSStorage_nbytes(reference));
        }

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
