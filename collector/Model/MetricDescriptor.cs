namespace Gputel.Collector.Model;

/// <summary>Whether a series only goes up (counter) or may go both ways (gauge).</summary>
public enum MetricKind
{
    /// <summary>A value that can rise and fall.</summary>
    Gauge,
    /// <summary>A monotonically increasing total.</summary>
    Counter,
}

/// <summary>
/// One quantity the collectors measure, with its name in each naming profile. Which fields are
/// exported and how they are called is data (<see cref="GpuMetrics"/>), not code in the exporter.
/// </summary>
public sealed class MetricDescriptor
{
    /// <summary>Creates a descriptor; see the properties for the meaning of each argument.</summary>
    public MetricDescriptor(string? name, string help, MetricKind kind, string? labelName = null, string? labelValue = null)
    {
        Name = name;
        Help = help;
        Kind = kind;
        LabelName = labelName;
        LabelValue = labelValue;
    }

    /// <summary>Name in the default profile (base units), or null when only the dcgm profile has it.</summary>
    public string? Name { get; }

    /// <summary>Help text in the default profile.</summary>
    public string Help { get; }

    /// <summary>Gauge or counter in the default profile.</summary>
    public MetricKind Kind { get; }

    /// <summary>The extra label this quantity carries besides the device labels (e.g. <c>clock</c>), if any.</summary>
    public string? LabelName { get; }

    /// <summary>A fixed value for <see cref="LabelName"/> (e.g. <c>sm</c>); null when each reading brings its own.</summary>
    public string? LabelValue { get; }

    /// <summary>True for device memory figures, which MIG instances report too.</summary>
    public bool PerMigInstance { get; init; }

    /// <summary>The dcgm-exporter field this quantity is served as in the dcgm profile, or null to keep <see cref="Name"/>.</summary>
    public DcgmField? Dcgm { get; init; }

    /// <summary>The OTLP instrument this quantity is exported as; null when it is not (<see cref="OtlpOmitted"/> says why).</summary>
    public OtlpInstrument? Otlp { get; init; }

    /// <summary>Why the quantity has no OTLP instrument; null when it has one.</summary>
    public string? OtlpOmitted { get; init; }

    /// <summary>
    /// The field of <c>gputel devices --json</c> that shows it: a name (<c>power_watts</c>), a name in
    /// an object (<c>clocks_hertz.sm</c>), or a list of the labels active now (<c>throttle_reasons[]</c>);
    /// null when devices does not show it (<see cref="DevicesOmitted"/> says why).
    /// </summary>
    public string? DevicesField { get; init; }

    /// <summary>Why <c>gputel devices</c> does not show the quantity; null when it does.</summary>
    public string? DevicesOmitted { get; init; }

    /// <summary>False for quantities that only the dcgm profile serves (they have no default name).</summary>
    public bool InDefaultProfile => Name is not null;

    /// <inheritdoc />
    public override string ToString() => Name ?? Dcgm?.Name ?? "?";
}

/// <summary>A dcgm-exporter field: its name, type, help and the factor from our base unit to its unit.</summary>
/// <param name="Name">The field name, e.g. <c>DCGM_FI_DEV_FB_USED</c>.</param>
/// <param name="Kind">Gauge or counter as in dcgm-exporter's counter list.</param>
/// <param name="Help">dcgm-exporter's help text.</param>
/// <param name="Scale">Multiply the base-unit value by this (bytes to MiB: 1/1048576).</param>
/// <param name="Integer">
/// DCGM keeps the field as an integer (MiB, percent, mJ, KB/s): the scaled value is served as one,
/// whole MiB rounded down as DCGM divides, and a unit converted back and forth (J to mJ) without the
/// floating-point residue (4175899.9999999995).
/// </param>
public sealed record DcgmField(string Name, MetricKind Kind, string Help, double Scale = 1.0, bool Integer = false)
{
    /// <summary>The DCGM value of <paramref name="baseUnitValue"/>: scaled, and whole where the field is an integer.</summary>
    public double Value(double baseUnitValue)
    {
        double scaled = baseUnitValue * Scale;
        if (!Integer || !double.IsFinite(scaled))
        {
            return scaled;
        }

        double nearest = Math.Round(scaled);
        return Math.Abs(scaled - nearest) <= 1e-9 * Math.Max(1, Math.Abs(scaled)) ? nearest : Math.Floor(scaled);
    }
}
