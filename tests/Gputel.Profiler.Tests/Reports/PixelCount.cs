using SkiaSharp;

namespace Gputel.Profiler.Tests.Reports;

internal static class PixelCount
{
    /// <summary>Pixels in <paramref name="area"/> whose colour is clearly a colour: not white, grey or black (channels more than 40 apart).</summary>
    public static int Coloured(SKBitmap bitmap, SKRectI area)
    {
        int count = 0;
        for (int y = Math.Max(0, area.Top); y < Math.Min(bitmap.Height, area.Bottom); y++)
        {
            for (int x = Math.Max(0, area.Left); x < Math.Min(bitmap.Width, area.Right); x++)
            {
                SKColor c = bitmap.GetPixel(x, y);
                int max = Math.Max(c.Red, Math.Max(c.Green, c.Blue)), min = Math.Min(c.Red, Math.Min(c.Green, c.Blue));
                if (max - min > 40)
                {
                    count++;
                }
            }
        }

        return count;
    }
}
