namespace Gputel.Core.Estimation;

/// <summary>What libtorch itself holds on the CPU for a configuration, as measured on this machine.</summary>
/// <param name="Bytes">The <c>runtime</c> category at the end of the probe run.</param>
/// <param name="How">How it was measured, for the estimate's formula column.</param>
public sealed record RuntimeMeasurement(long Bytes, string How);
