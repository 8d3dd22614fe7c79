using System.Globalization;
using System.Text.Json.Serialization;

namespace Gputel.Core.Training;

/// <summary>
/// Where a run computes, parsed once from what the user or a record wrote (<c>cpu</c>, <c>cuda</c>,
/// <c>cuda:N</c>) and printed back the same way. <c>cuda</c> without an ordinal is any CUDA device
/// (the estimator's case; a run takes it as device 0).
/// </summary>
/// <param name="Kind">CPU or CUDA.</param>
/// <param name="Ordinal">The CUDA ordinal as libtorch numbers devices (after <c>CUDA_VISIBLE_DEVICES</c>), or null where none was named.</param>
[JsonConverter(typeof(NamedValueJsonConverter<ComputeDevice>))]
public readonly record struct ComputeDevice(DeviceKind Kind, int? Ordinal = null) : INamedValue<ComputeDevice>
{
    /// <summary>The CPU.</summary>
    public static ComputeDevice Cpu { get; } = new(DeviceKind.Cpu);

    /// <summary>A CUDA device; <paramref name="ordinal"/> null for any.</summary>
    public static ComputeDevice Cuda(int? ordinal = null) => new(DeviceKind.Cuda, ordinal);

    /// <summary>Whether this is the CPU.</summary>
    public bool IsCpu => Kind == DeviceKind.Cpu;

    /// <summary>Whether this is a CUDA device.</summary>
    public bool IsCuda => Kind == DeviceKind.Cuda;

    /// <summary>The CUDA ordinal a run uses: the one named, or 0.</summary>
    public int CudaOrdinal => Ordinal ?? 0;

    /// <inheritdoc />
    public static string Expected => "cpu, cuda or cuda:N";

    /// <summary>Parses <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c> (N a non-negative integer, no sign or spaces).</summary>
    public static bool TryParse(string? name, out ComputeDevice value)
    {
        value = Cpu;
        switch (name)
        {
            case "cpu":
                return true;
            case "cuda":
                value = Cuda();
                return true;
            case not null when name.StartsWith("cuda:", StringComparison.Ordinal)
                && int.TryParse(name.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out int ordinal):
                value = Cuda(ordinal);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Parses <paramref name="text"/> as <see cref="TryParse"/> does.</summary>
    /// <exception cref="ArgumentException">Neither cpu, cuda nor cuda:N; worded as the commands' <c>--device</c> errors.</exception>
    public static ComputeDevice Parse(string text) => TryParse(text, out ComputeDevice device)
        ? device
        : throw new ArgumentException($"invalid device '{text}': expected {Expected}");

    /// <inheritdoc />
    public override string ToString() => IsCpu ? "cpu" : Ordinal is { } n ? string.Create(CultureInfo.InvariantCulture, $"cuda:{n}") : "cuda";
}
