namespace Gputel.Collector.Exposition;

/// <summary>Which names, units and labels the exposition uses.</summary>
public enum NamingProfile
{
    /// <summary>Our names (docs/METRICS.md): Prometheus conventions, base units, snake_case labels.</summary>
    Default,

    /// <summary>
    /// dcgm-exporter 4.8's names, units and labels (<c>DCGM_FI_DEV_FB_USED</c> in MiB, labels <c>gpu</c>,
    /// <c>UUID</c>, <c>device</c>, <c>modelName</c>, <c>Hostname</c>, ...), so dashboards built for it work
    /// unchanged. What dcgm-exporter has no field for keeps its default name.
    /// </summary>
    Dcgm,
}
