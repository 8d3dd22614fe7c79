using Gputel.Collector.Model;

namespace Gputel.Collector.Exposition;

/// <summary>The device labels of a naming profile and their values for each GPU, built once.</summary>
internal sealed class LabelSchema
{
    private readonly string[][] _deviceValues;

    public LabelSchema(NamingProfile profile, IReadOnlyList<GpuDevice> devices, string hostname, string driverVersion)
    {
        Profile = profile;
        if (profile == NamingProfile.Dcgm)
        {
            DeviceNames = ["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION"];
            HostNames = ["Hostname"];
            MigName = "GPU_I_ID";
            _deviceValues = devices.Select(d => new[] { Index(d), d.Uuid, d.PciBusId, d.DeviceNode, d.Name, hostname, driverVersion }).ToArray();
        }
        else
        {
            DeviceNames = ["gpu", "uuid", "pci_bus_id", "model", "hostname"];
            HostNames = ["hostname"];
            MigName = "mig_instance";
            _deviceValues = devices.Select(d => new[] { Index(d), d.Uuid, d.PciBusId, d.Name, hostname }).ToArray();
        }

        HostValues = [hostname];
        // MIG adds a label only where some GPU has MIG on, so other hosts keep the plain label set.
        HasMig = devices.Any(d => d.MigInstances.Count > 0);
    }

    public NamingProfile Profile { get; }

    public string[] DeviceNames { get; }

    public string[] HostNames { get; }

    public string[] HostValues { get; }

    public string MigName { get; }

    public bool HasMig { get; }

    public string[] DeviceValues(int device) => _deviceValues[device];

    /// <summary>Label names of a quantity: device (or host) labels, the MIG label, then its own label.</summary>
    public string[] NamesFor(MetricDescriptor metric, bool host)
    {
        var names = new List<string>(host ? HostNames : DeviceNames);
        if (!host && HasMig && metric.PerMigInstance)
        {
            names.Add(MigName);
        }

        if (HasOwnLabel(metric))
        {
            names.Add(metric.LabelName!);
        }

        return names.ToArray();
    }

    /// <summary>Label values in the order of <see cref="NamesFor"/>.</summary>
    public string[] ValuesFor(in Reading reading)
    {
        bool host = reading.Device < 0;
        var values = new List<string>(host ? HostValues : DeviceValues(reading.Device));
        if (!host && HasMig && reading.Metric.PerMigInstance)
        {
            values.Add(reading.MigInstance is null ? string.Empty : MigValue(reading.MigInstance));
        }

        if (HasOwnLabel(reading.Metric))
        {
            values.Add(reading.LabelValue ?? reading.Metric.LabelValue ?? string.Empty);
        }

        return values.ToArray();
    }

    /// <summary>
    /// Whether the quantity's own label (e.g. <c>clock="sm"</c>) is written. Where the dcgm profile
    /// gives a fixed-label quantity a field of its own (<c>DCGM_FI_DEV_SM_CLOCK</c>), the field name
    /// already says it and dcgm-exporter has no such label.
    /// </summary>
    private bool HasOwnLabel(MetricDescriptor metric) =>
        metric.LabelName is not null && !(Profile == NamingProfile.Dcgm && metric.Dcgm is not null && metric.LabelValue is not null);

    private string MigValue(MigInstance mig) =>
        Profile == NamingProfile.Dcgm ? mig.GpuInstance.ToString(System.Globalization.CultureInfo.InvariantCulture) : mig.Label;

    private static string Index(GpuDevice d) => d.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
