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

    /// <summary>
    /// A size as people write it: a number and a unit, binary (<c>80GiB</c>, <c>81920MiB</c>,
    /// <c>KiB</c>, <c>TiB</c>) or decimal (<c>80GB</c> is 80 x 10^9 bytes, <c>MB</c>, <c>kB</c>,
    /// <c>TB</c>) or bytes (<c>B</c>); case and a space before the unit do not matter. A number
    /// without a unit is refused: "80" could be any of them.
    /// </summary>
    public static bool TryParseSize(string? text, out long bytes)
    {
        bytes = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        string s = text.Trim();
        int split = s.Length;
        while (split > 0 && char.IsAsciiLetter(s[split - 1]))
        {
            split--;
        }

        double unit = s[split..].ToUpperInvariant() switch
        {
            "B" => 1,
            "KIB" => KiB,
            "MIB" => MiB,
            "GIB" => GiB,
            "TIB" => GiB * 1024,
            "KB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            "TB" => 1e12,
            _ => 0,
        };
        if (unit == 0 || !double.TryParse(s[..split].TrimEnd(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double number))
        {
            return false;
        }

        double value = Math.Round(number * unit);
        if (value is <= 0 or >= long.MaxValue)
        {
            return false;
        }

        bytes = (long)value;
        return true;
    }
}
