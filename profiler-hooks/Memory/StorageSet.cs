using TorchSharp;

namespace Gputel.Profiler.Memory;

/// <summary>
/// Bytes of a set of tensors with each storage counted once: views, tied weights and a tensor
/// listed under two names share one storage, and a storage already claimed by an earlier category
/// (see <see cref="Claim"/>) is not counted again.
/// </summary>
public sealed class StorageSet
{
    private readonly HashSet<IntPtr> _seen;

    /// <summary>An empty set.</summary>
    public StorageSet() => _seen = [];

    /// <summary>A set that starts with <paramref name="claimed"/> already counted (their bytes are not counted again).</summary>
    public StorageSet(IEnumerable<IntPtr> claimed, long claimedBytes)
    {
        _seen = [.. claimed];
        Bytes = claimedBytes;
    }

    /// <summary>Storages claimed so far.</summary>
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
        if (address == IntPtr.Zero || !_seen.Add(address))
        {
            return 0;
        }

        Bytes += bytes;
        return bytes;
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
}
