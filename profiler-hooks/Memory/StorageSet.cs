using TorchSharp;

namespace Gputel.Profiler.Memory;

/// <summary>
/// Bytes of a set of tensors with each storage counted once: views, tied weights and a tensor
/// listed under two names share one storage, and a storage already claimed by an earlier category
/// (see <see cref="Claim"/>) is not counted again.
/// </summary>
public sealed class StorageSet
{
    private readonly IReadOnlySet<IntPtr>? _claimedBefore;
    private readonly long _claimedBeforeBytes;
    private readonly HashSet<IntPtr> _seen;

    /// <summary>An empty set.</summary>
    public StorageSet() => _seen = [];

    /// <summary>
    /// A set that starts with <paramref name="claimedBefore"/> already counted (their storages are
    /// not counted again, and <paramref name="claimedBytes"/> are in <see cref="Bytes"/>). The set is
    /// read, never copied or changed: a phase end starts from the run's weights this way without
    /// copying their storages each time.
    /// </summary>
    public StorageSet(IReadOnlySet<IntPtr> claimedBefore, long claimedBytes)
    {
        _claimedBefore = claimedBefore;
        _claimedBeforeBytes = claimedBytes;
        _seen = [];
        Bytes = claimedBytes;
    }

    /// <summary>
    /// Forgets what was claimed in this set, back to the set it was started on, and keeps its
    /// capacity: each phase end reuses one set instead of growing a new one (garbage that the
    /// training loop's per-step collection would otherwise sweep).
    /// </summary>
    internal void Restart()
    {
        _seen.Clear();
        Bytes = _claimedBeforeBytes;
    }

    /// <summary>Storages claimed in this set (not those it was started on top of).</summary>
    internal HashSet<IntPtr> Storages => _seen;

    /// <summary>Bytes counted so far.</summary>
    public long Bytes { get; private set; }

    /// <summary>
    /// Adds <paramref name="tensor"/>'s storage if it was not seen yet and returns the bytes added
    /// (0 for a repeat, a null or an undefined tensor).
    /// </summary>
    public long Claim(torch.Tensor? tensor)
    {
        if (tensor is null || tensor.IsInvalid)
        {
            return 0;
        }

        (IntPtr address, long bytes) = NativeStorage.Of(tensor);
        return Add(address, bytes);
    }

    /// <summary>
    /// Adds the storage of <paramref name="parameter"/>'s gradient, if it has one not seen yet, and
    /// returns the bytes added. The gradient is read and released at once, without a managed tensor.
    /// </summary>
    public long ClaimGradientOf(torch.Tensor parameter)
    {
        if (parameter is null || parameter.IsInvalid)
        {
            return 0;
        }

        (IntPtr address, long bytes) = NativeStorage.GradientOf(parameter);
        return Add(address, bytes);
    }

    /// <summary>Adds every tensor and returns the bytes added.</summary>
    public long ClaimAll(IEnumerable<torch.Tensor?> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        long added = 0;
        foreach (torch.Tensor? tensor in tensors)
        {
            added += Claim(tensor);
        }

        return added;
    }

    /// <summary>Adds a storage already read (its base address and size) and returns the bytes added.</summary>
    internal long Add(IntPtr address, long bytes)
    {
        if (address == IntPtr.Zero || _claimedBefore?.Contains(address) == true || !_seen.Add(address))
        {
            return 0;
        }

        Bytes += bytes;
        return bytes;
    }
}
