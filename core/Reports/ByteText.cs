using System.Globalization;

namespace Gputel.Core.Reports;

/// <summary>Bytes for people: binary units, three significant figures or so.</summary>
public static class ByteText
{
    private const double KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024;

    /// <summary>E.g. <c>1.50 GiB</c>, <c>12.3 MiB</c>, <c>512 B</c>; negative values keep their sign.</summary>
    public static string Format(long bytes)
    {
        double magnitude = Math.Abs((double)bytes);
        return magnitude switch
        {
            >= GiB => (bytes / GiB).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
            >= MiB => (bytes / MiB).ToString(magnitude >= 100 * MiB ? "0" : "0.0#", CultureInfo.InvariantCulture) + " MiB",
            >= KiB => (bytes / KiB).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
            _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
        };
    }

    /// <summary>Mebibytes with two decimals, for tables that share one unit.</summary>
    public static string MiBText(long bytes) => (bytes / MiB).ToString("0.00", CultureInfo.InvariantCulture);
}
