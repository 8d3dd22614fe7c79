using Gputel.Collector.Collectors;
using Gputel.Collector.Model;
using Gputel.Collector.Sampling;
using Gputel.Tests.Support;
using static Gputel.Tests.Support.Scripts;

namespace Gputel.Collector.Tests;

/// <summary>The GPM collector and the fields dcgm-exporter's default list needs, on the fake driver.</summary>
[Collection(FakeNvmlCollection.Name)]
public sealed class ProfilingCollectorTests
{
    private static (GpuSession Session, GpuDevice Device) OpenOne(string extra = "")
    {
        GpuSession session = FakeNvml.Open(Header() + Gpu(0, extra: extra));
        return (session, Assert.Single(session.Devices));
    }

    private static CollectorOutput Run(IGpuCollector collector, GpuDevice device)
    {
        var output = new CollectorOutput();
        collector.Collect(device, output);
        return output;
    }

    private static double Value(CollectorOutput o, MetricDescriptor metric, MigInstance? mig = null) =>
        Assert.Single(o.Readings, r => ReferenceEquals(r.Metric, metric) && r.MigInstance == mig).Value;

    private static MetricDescriptor Gpm(uint id) => GpmMetrics.All.Single(e => e.Id == id).Metric;

    [Fact]
    public void Gpm_asks_only_for_metric_ids_nvml_h_defines()
    {
        // nvmlGpmMetricId_t as nvml.h numbers the ones a telemetry agent could want: graphics, SM,
        // occupancy, integer, any tensor, DFMA, HMMA (7), IMMA (9: there is no 8), DRAM, FP64/32/16,
        // PCIe TX/RX, NVLink total RX/TX. The fake driver answers any id, so only this list can
        // catch an id the real one lacks.
        uint[] defined = [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 20, 21, 60, 61];
        Assert.All(GpmMetrics.All, e => Assert.Contains(e.Id, defined));
        Assert.Equal(GpmMetrics.All.Count, GpmMetrics.All.Select(e => e.Id).Distinct().Count());
    }

    [Fact]
    public void Memory_temperature_codec_utilisation_replays_and_remapped_rows()
    {
        (GpuSession session, GpuDevice d) = OpenOne();
        using (session)
        {
            Assert.Equal(71, Value(Run(new TemperatureCollector(), d), GpuMetrics.MemoryTemperature));
            CollectorOutput util = Run(new UtilizationCollector(), d);
            Assert.Equal(0.12, Value(util, GpuMetrics.EncoderUtilization), 6);
            Assert.Equal(0.34, Value(util, GpuMetrics.DecoderUtilization), 6);
            Assert.Equal(7, Value(Run(new PcieCollector(), d), GpuMetrics.PcieReplays));
            CollectorOutput ecc = Run(new EccCollector(), d);
            Assert.Equal(2, Value(ecc, GpuMetrics.RemappedRowsCorrectable));
            Assert.Equal(1, Value(ecc, GpuMetrics.RemappedRowsUncorrectable));
            Assert.Equal(0, Value(ecc, GpuMetrics.RowRemapPending));
            Assert.Equal(0, Value(ecc, GpuMetrics.RowRemapFailure));
        }
    }

    [Fact]
    public void NvLink_counters_are_bytes_and_grow()
    {
        (GpuSession session, GpuDevice d) = OpenOne();
        using (session)
        {
            var collector = new NvLinkCollector();
            CollectorOutput first = Run(collector, d);
            Thread.Sleep(200);
            CollectorOutput second = Run(collector, d);

            double tx1 = Value(first, GpuMetrics.NvLinkTx), tx2 = Value(second, GpuMetrics.NvLinkTx);
            Assert.True(tx2 > tx1, $"tx {tx1} then {tx2}");
            Assert.Equal(0, tx2 % 1024);
            // dcgm-exporter's single counter: both directions, in KiB.
            Assert.Equal((Value(second, GpuMetrics.NvLinkTx) + Value(second, GpuMetrics.NvLinkRx)) / 1024, Value(second, GpuMetrics.NvLinkBandwidthTotal));
        }
    }

    [Fact]
    public void Gpm_metrics_come_from_two_samples_as_ratios_and_bytes_per_second()
    {
        (GpuSession session, GpuDevice d) = OpenOne();
        using (session)
        {
            var collector = new GpmCollector();
            Assert.Empty(Run(collector, d).Readings); // one sample: nothing to compare yet
            Thread.Sleep(150);
            CollectorOutput o = Run(collector, d);

            Assert.Equal(0.50, Value(o, GpmMetrics.GraphicsActive), 6);
            Assert.Equal(0.40, Value(o, GpmMetrics.SmActive), 6);
            Assert.Equal(0.30, Value(o, GpmMetrics.SmOccupancy), 6);
            Assert.Equal(0.425, Value(o, GpmMetrics.TensorActive), 6);
            Assert.Equal(0.20, Value(o, GpmMetrics.DramActive), 6);
            Assert.Equal(0.10, Value(o, Gpm(7)), 6);
            Assert.Equal(0.05, Value(o, Gpm(12)), 6);
            Assert.Equal(100.0 * 1024 * 1024, Value(o, Gpm(20)));
            Assert.Equal(300.0 * 1024 * 1024, Value(o, Gpm(60)));
            // Metrics the device lacks (FP64 here) answer NOT_SUPPORTED individually and are left out.
            Assert.DoesNotContain(o.Readings, r => ReferenceEquals(r.Metric, Gpm(11)));
            Assert.Empty(o.Notes);
        }
    }

    [Fact]
    public void Samples_closer_than_100ms_are_not_compared()
    {
        (GpuSession session, GpuDevice d) = OpenOne();
        using (session)
        {
            var collector = new GpmCollector();
            Run(collector, d);
            Assert.Empty(Run(collector, d).Readings);
        }
    }

    [Fact]
    public void Gpm_is_reported_per_mig_instance()
    {
        (GpuSession session, GpuDevice d) = OpenOne($"mig_mode 1\nmig 1 0 {20 * GiB} {5 * GiB}\nmig 2 0 {20 * GiB} {7 * GiB}\ngpm_mig 1 5 80\ngpm_mig 2 5 5\n");
        using (session)
        {
            var collector = new GpmCollector();
            Run(collector, d);
            Thread.Sleep(150);
            CollectorOutput o = Run(collector, d);

            Assert.Equal(0.425, Value(o, GpmMetrics.TensorActive), 6);
            Assert.Equal(0.80, Value(o, GpmMetrics.TensorActive, d.MigInstances[0]), 6);
            Assert.Equal(0.05, Value(o, GpmMetrics.TensorActive, d.MigInstances[1]), 6);
        }
    }

    [Fact]
    public void Without_gpm_the_collector_says_so_once_and_stays_quiet()
    {
        (GpuSession session, GpuDevice d) = OpenOne("gpm_supported 0\n");
        using (session)
        {
            var collector = new GpmCollector();
            CollectorOutput first = Run(collector, d);
            Thread.Sleep(150);
            CollectorOutput second = Run(collector, d);

            Assert.Contains("GPM (profiling metrics) not supported", Assert.Single(first.Notes), StringComparison.Ordinal);
            Assert.Empty(first.Readings);
            Assert.Empty(second.Notes);
            Assert.Empty(second.Readings);
        }
    }

    [Fact]
    public void Gpm_follows_the_load_from_idle_to_busy()
    {
        (GpuSession session, GpuDevice d) = OpenOne("gpm_timeline 5 0:0 400:90\n");
        using (session)
        {
            var collector = new GpmCollector();
            Run(collector, d);
            Thread.Sleep(150);
            Assert.Equal(0, Value(Run(collector, d), GpmMetrics.TensorActive));
            Thread.Sleep(400);
            Assert.Equal(0.9, Value(Run(collector, d), GpmMetrics.TensorActive), 6);
        }
    }
}
