namespace Gputel.Collector.Model;

/// <summary>The System.Diagnostics.Metrics instrument an OTLP exporter reads a quantity from.</summary>
public enum OtlpKind
{
    /// <summary>An observable gauge (a value now).</summary>
    Gauge,

    /// <summary>An observable counter (a monotonic total).</summary>
    Counter,

    /// <summary>An observable up-down counter (an additive value that may fall: bytes in use, a state count).</summary>
    UpDownCounter,
}

/// <summary>Where an instrument's values and attributes come from.</summary>
public enum OtlpSource
{
    /// <summary>The collectors' readings of the quantity, one point per GPU with the GPU's attributes.</summary>
    Readings,

    /// <summary>Like <see cref="Readings"/>, each point a sensor component whose <c>hw.parent</c> is the GPU (temperatures).</summary>
    Sensor,

    /// <summary>The memory collector's figures per GPU and per MIG instance (not readings: the peak window's store).</summary>
    Memory,

    /// <summary>The host's readings: no GPU attributes.</summary>
    Host,

    /// <summary>Whether the GPU answers: <c>hw.state=ok</c> 1 and <c>failed</c> 0, or the reverse.</summary>
    Status,
}

/// <summary>
/// How a quantity is exported over OTLP, after the OpenTelemetry hardware semantic conventions
/// where they name it (<c>hw.gpu.*</c>, <c>hw.power</c>, <c>hw.errors</c>...). Quantities sharing an
/// instrument name are one instrument whose points differ by <see cref="AttributeKey"/>.
/// </summary>
/// <param name="Name">Instrument name, e.g. <c>hw.gpu.utilization</c>.</param>
/// <param name="Unit">UCUM unit: <c>By</c>, <c>W</c>, <c>J</c>, <c>Cel</c>, <c>1</c>, <c>{error}</c>.</param>
/// <param name="Kind">Gauge, counter or up-down counter.</param>
/// <param name="Description">The instrument's description.</param>
public sealed record OtlpInstrument(string Name, string Unit, OtlpKind Kind, string Description)
{
    /// <summary>Where the values come from.</summary>
    public OtlpSource Source { get; init; } = OtlpSource.Readings;

    /// <summary>The attribute that tells this quantity from the others of the instrument (e.g. <c>hw.gpu.task</c>), if any.</summary>
    public string? AttributeKey { get; init; }

    /// <summary>Its value for this quantity (e.g. <c>encoder</c>); null to take each reading's own label, after <see cref="LabelPrefix"/>.</summary>
    public string? AttributeValue { get; init; }

    /// <summary>Put before a reading's label when it is the attribute's value (Xid 79 is <c>error.type=xid_79</c>).</summary>
    public string LabelPrefix { get; init; } = string.Empty;

    /// <summary>Whether points are whole numbers (bytes, error counts), exported as integers.</summary>
    public bool Integer { get; init; }
}
