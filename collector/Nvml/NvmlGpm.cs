using System.Runtime.InteropServices;

namespace Gputel.Collector.Nvml;

/// <summary>A GPM sample buffer (<c>nvmlGpmSample_t</c>), freed with <c>nvmlGpmSampleFree</c>.</summary>
public sealed class NvmlGpmSample : SafeHandle
{
    private NvmlGpmSample()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    /// <inheritdoc />
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Allocates a sample buffer; null with NVML's code when it cannot.</summary>
    public static unsafe NvmlReturn TryAllocate(out NvmlGpmSample? sample)
    {
        IntPtr raw = IntPtr.Zero;
        NvmlReturn rc = Interop.Nvml.nvmlGpmSampleAlloc(&raw);
        sample = null;
        if (rc == NvmlReturn.Success)
        {
            sample = new NvmlGpmSample();
            sample.SetHandle(raw);
        }

        return rc;
    }

    /// <inheritdoc />
    protected override bool ReleaseHandle() => Interop.Nvml.nvmlGpmSampleFree(handle) == NvmlReturn.Success;
}

/// <summary>GPU Performance Monitoring metrics computed from two samples (<c>nvmlGpmMetricsGet</c>).</summary>
public static class NvmlGpm
{
    /// <summary>The most metrics one call computes.</summary>
    public const int MaxMetrics = NvmlGpmMetricsGet.Capacity;

    /// <summary>
    /// Computes <paramref name="metricIds"/> between <paramref name="earlier"/> and <paramref name="later"/>.
    /// Each metric has its own return code in <paramref name="results"/> (a device may lack one).
    /// </summary>
    public static unsafe NvmlReturn TryGetMetrics(NvmlGpmSample earlier, NvmlGpmSample later, ReadOnlySpan<uint> metricIds, Span<(NvmlReturn Return, double Value)> results)
    {
        ArgumentNullException.ThrowIfNull(earlier);
        ArgumentNullException.ThrowIfNull(later);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(metricIds.Length, MaxMetrics);
        ArgumentOutOfRangeException.ThrowIfLessThan(results.Length, metricIds.Length);
        NvmlGpmMetricsGet get = default;
        get.Version = NvmlGpmMetricsGet.Version1;
        get.NumMetrics = (uint)metricIds.Length;
        get.Sample1 = earlier.DangerousGetHandle();
        get.Sample2 = later.DangerousGetHandle();
        for (int i = 0; i < metricIds.Length; i++)
        {
            get.Metric(i).MetricId = metricIds[i];
        }

        NvmlReturn rc = Interop.Nvml.nvmlGpmMetricsGet(&get);
        for (int i = 0; i < metricIds.Length; i++)
        {
            ref NvmlGpmMetric m = ref get.Metric(i);
            results[i] = rc == NvmlReturn.Success ? (m.Return, m.Value) : (rc, 0);
        }

        return rc;
    }
}
