using Gputel.Collector.Collectors;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Processes;
using Gputel.Collector.Sampling;
using Gputel.Collector.Store;
using Gputel.Tests.Support;
using static Gputel.Tests.Support.Scripts;

namespace Gputel.Collector.Tests;

/// <summary>Each collector against the fake driver through the real NVML bindings.</summary>
[Collection(FakeNvmlCollection.Name)]
public sealed class CollectorTests
{
    private static (GpuSession Session, GpuDevice Device) OpenOne(string extra = "", string header = "")
    {
        GpuSession session = FakeNvml.Open(Header() + header + Gpu(0, extra: extra));
        return (session, Assert.Single(session.Devices));
    }

    private static CollectorOutput Run(IGpuCollector collector, GpuDevice? device)
    {
        var output = new CollectorOutput();
        collector.Collect(device, output);
        return output;
    }

    private static double Value(CollectorOutput output, MetricDescriptor metric) =>
        Assert.Single(output.Readings, r => ReferenceEquals(r.Metric, metric)).Value;

    [Fact]
    public void Discovery_reads_identity_once()
    {
        (GpuSession session, GpuDevice d) = OpenOne();
        using (session)
        {
            Assert.Equal("560.35.03", session.DriverVersion);
            Assert.Equal("NVIDIA H100 80GB HBM3", d.Name);
            Assert.Equal("GPU-00000000-0000-0000-0000-000000000000", d.Uuid);
            Assert.Equal("00000000:01:00.0", d.PciBusId);
            Assert.Equal("nvidia0", d.DeviceNode);
        }
    }

    [Fact]
    public void Memory_goes_to_the_store_window_with_reserved_and_free()
    {
        (GpuSession session, GpuDevice d) = OpenOne();
        using (session)
        {
            var store = new SampleStore(session.Devices, ["memory"]);
            Run(new MemoryCollector(store), d);

            Assert.True(store.Memory(0).TryRead(closeWindow: true, out MemoryInfo m, out ulong peak));
            Assert.Equal(80 * GiB, m.Total);
            Assert.Equal(GiB / 2, m.Reserved);
            Assert.Equal(10 * GiB, m.Used);
            Assert.Equal((80 * GiB) - (GiB / 2) - (10 * GiB), m.Free);
            Assert.Equal(10 * GiB, peak);
        }
    }

    [Fact]
    public void Memory_of_each_mig_instance_is_sampled_too()
    {
        (GpuSession session, GpuDevice d) = OpenOne($"mig_mode 1\nmig 1 0 {20 * GiB} {5 * GiB}\nmig 2 0 {20 * GiB} {7 * GiB}\n");
        using (session)
        {
            Assert.Equal(["1/0", "2/0"], d.MigInstances.Select(m => m.Label));
            var store = new SampleStore(session.Devices, ["memory"]);
            Run(new MemoryCollector(store), d);

            Assert.True(store.MigMemory(0, 1).TryRead(closeWindow: true, out MemoryInfo mig, out _));
            Assert.Equal(20 * GiB, mig.Total);
            Assert.Equal(7 * GiB, mig.Used);
        }
    }

    [Fact]
    public void Utilization_is_a_ratio()
    {
        (GpuSession session, GpuDevice d) = OpenOne();
        using (session)
        {
            CollectorOutput o = Run(new UtilizationCollector(), d);
            Assert.Equal(0.87, Value(o, GpuMetrics.Utilization), 6);
            Assert.Equal(0.45, Value(o, GpuMetrics.MemoryUtilization), 6);
        }
    }

    [Fact]
    public void Power_is_in_watts_and_energy_in_joules()
    {
        (GpuSession session, GpuDevice d) = OpenOne();
        using (session)
        {
            CollectorOutput o = Run(new PowerCollector(), d);
            Assert.Equal(350.5, Value(o, GpuMetrics.Power), 6);
            Assert.Equal(700, Value(o, GpuMetrics.PowerLimit), 6);
            // The fake driver's energy grows with power over time from 123456789 mJ.
            Assert.InRange(Value(o, GpuMetrics.Energy), 123456.789, 123456.789 + 3600);
        }
    }

    [Fact]
    public void Not_supported_fields_are_left_out_without_error()
    {
        (GpuSession session, GpuDevice d) = OpenOne("fail nvmlDeviceGetPowerUsage 3\nfail nvmlDeviceGetTotalEnergyConsumption 13\n");
        using (session)
        {
            CollectorOutput o = Run(new PowerCollector(), d);
            Assert.Equal([GpuMetrics.PowerLimit], o.Readings.Select(r => r.Metric));
        }
    }

    [Fact]
    public void Temperature_in_celsius_and_a_failed_reading_leaves_the_other_standing()
    {
        (GpuSession session, GpuDevice d) = OpenOne();
        using (session)
        {
            CollectorOutput output = Run(new TemperatureCollector(), d);
            Assert.Equal(65, Value(output, GpuMetrics.Temperature));
            Assert.Equal(71, Value(output, GpuMetrics.MemoryTemperature));
            Assert.Empty(output.Failures);
        }

        (session, d) = OpenOne("fail nvmlDeviceGetTemperature 999\n");
        using (session)
        {
            CollectorOutput output = Run(new TemperatureCollector(), d);
            ReadingFailure failure = Assert.Single(output.Failures);
            Assert.Equal("nvmlDeviceGetTemperature", failure.Reading);
            Assert.Equal(NvmlReturn.Unknown, failure.Code);
            Assert.DoesNotContain(output.Readings, r => ReferenceEquals(r.Metric, GpuMetrics.Temperature));
            Assert.Equal(71, Value(output, GpuMetrics.MemoryTemperature));
        }

        (session, d) = OpenOne("fail nvmlDeviceGetFieldValues 999\n");
        using (session)
        {
            CollectorOutput output = Run(new TemperatureCollector(), d);
            Assert.Equal("nvmlDeviceGetFieldValues(memory temperature)", Assert.Single(output.Failures).Reading);
            Assert.Equal(65, Value(output, GpuMetrics.Temperature));
        }
    }

    [Fact]
    public void A_lost_gpu_still_throws_for_the_runner()
    {
        (GpuSession session, GpuDevice d) = OpenOne("fail nvmlDeviceGetTemperature 15\n");
        using (session)
        {
            var e = Assert.Throws<NvmlException>(() => Run(new TemperatureCollector(), d));
            Assert.True(e.IsDeviceLost);
        }
    }

    [Fact]
    public void Each_failing_clock_or_ecc_reading_is_told_apart_and_the_others_are_read()
    {
        (GpuSession session, GpuDevice d) = OpenOne("fail_every nvmlDeviceGetClockInfo 999 2\nfail_every nvmlDeviceGetTotalEccErrors 999 2\n");
        using (session)
        {
            // Every second call fails: of four clocks, sm and video; of four ECC counters, the two uncorrected.
            CollectorOutput clocks = Run(new ClockCollector(), d);
            Assert.Equal(["nvmlDeviceGetClockInfo(sm)", "nvmlDeviceGetClockInfo(video)"], clocks.Failures.Select(f => f.Reading));
            Assert.Equal(1.98e9, Value(clocks, GpuMetrics.ClockGraphics));
            Assert.Equal(2.619e9, Value(clocks, GpuMetrics.ClockMemory));

            CollectorOutput ecc = Run(new EccCollector(), d);
            Assert.Equal(["nvmlDeviceGetTotalEccErrors(uncorrected, volatile)", "nvmlDeviceGetTotalEccErrors(uncorrected, aggregate)"], ecc.Failures.Select(f => f.Reading));
            Assert.Equal(3, Value(ecc, GpuMetrics.EccCorrectedVolatile));
            Assert.Equal(12, Value(ecc, GpuMetrics.EccCorrectedAggregate));
            Assert.Contains(ecc.Readings, r => ReferenceEquals(r.Metric, GpuMetrics.RemappedRowsCorrectable));
        }
    }

    [Fact]
    public void Memory_falls_back_to_v1_where_v2_refuses_and_reserved_is_then_unknown()
    {
        // 25: ARGUMENT_VERSION_MISMATCH, as a driver that has the v2 symbol but not the struct version.
        (GpuSession session, GpuDevice d) = OpenOne("fail nvmlDeviceGetMemoryInfo_v2 25\n");
        using (session)
        {
            Assert.Equal(NvmlReturn.Success, d.Handle.TryGetMemory(out MemoryInfo m));
            Assert.Null(m.Reserved);
            Assert.Equal(80 * GiB, m.Total);
            Assert.Equal((10 * GiB) + (GiB / 2), m.Used);
            Assert.Equal(1UL, FakeNvml.CallCount("nvmlDeviceGetMemoryInfo"));
        }
    }

    [Fact]
    public void Clocks_are_in_hertz_per_domain()
    {
        (GpuSession session, GpuDevice d) = OpenOne();
        using (session)
        {
            CollectorOutput o = Run(new ClockCollector(), d);
            Assert.Equal(1.98e9, Value(o, GpuMetrics.ClockGraphics));
            Assert.Equal(1.98e9, Value(o, GpuMetrics.ClockSm));
            Assert.Equal(2.619e9, Value(o, GpuMetrics.ClockMemory));
            Assert.Equal(1.755e9, Value(o, GpuMetrics.ClockVideo));
        }
    }

    [Fact]
    public void Throttle_mask_is_split_into_one_series_per_reason()
    {
        (GpuSession session, GpuDevice d) = OpenOne();
        using (session)
        {
            CollectorOutput o = Run(new ThrottleCollector(), d);
            Assert.Equal(5, Value(o, GpuMetrics.ThrottleMask));
            var active = GpuMetrics.ThrottleReasons.Where(r => Value(o, r.Metric) == 1).Select(r => r.Metric.LabelValue);
            Assert.Equal(["gpu_idle", "sw_power_cap"], active);
        }
    }

    [Fact]
    public void Pcie_throughput_is_in_bytes_per_second()
    {
        (GpuSession session, GpuDevice d) = OpenOne();
        using (session)
        {
            CollectorOutput o = Run(new PcieCollector(), d);
            Assert.Equal(1000 * 1024, Value(o, GpuMetrics.PcieTx));
            Assert.Equal(2000 * 1024, Value(o, GpuMetrics.PcieRx));
        }
    }

    [Fact]
    public void Ecc_reports_all_four_counters()
    {
        (GpuSession session, GpuDevice d) = OpenOne();
        using (session)
        {
            CollectorOutput o = Run(new EccCollector(), d);
            Assert.Equal(3, Value(o, GpuMetrics.EccCorrectedVolatile));
            Assert.Equal(0, Value(o, GpuMetrics.EccUncorrectedVolatile));
            Assert.Equal(12, Value(o, GpuMetrics.EccCorrectedAggregate));
            Assert.Equal(1, Value(o, GpuMetrics.EccUncorrectedAggregate));
        }
    }

    [Fact]
    public void Processes_carry_command_and_container_and_appear_once_per_pid()
    {
        string proc = Directory.CreateTempSubdirectory("gputel-proc-").FullName;
        try
        {
            const string container = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
            Directory.CreateDirectory(Path.Combine(proc, "4242"));
            File.WriteAllText(Path.Combine(proc, "4242", "comm"), "python3\n");
            File.WriteAllText(Path.Combine(proc, "4242", "cgroup"), $"0::/system.slice/docker-{container}.scope\n");

            (GpuSession session, GpuDevice d) = OpenOne(
                $"process compute 4242 {16 * GiB}\nprocess graphics 4242 {16 * GiB}\nprocess compute 77 {GiB}\n",
                header: "process_name 77 /opt/bin/trainer\n");
            using (session)
            {
                CollectorOutput o = Run(new ProcessCollector(new ProcessDescriber(proc)), d);

                Assert.Equal(2, o.Processes.Count);
                ProcessReading python = Assert.Single(o.Processes, p => p.Pid == 4242);
                Assert.Equal(("python3", container, 16.0 * GiB), (python.Command, python.ContainerId, python.UsedBytes));
                ProcessReading trainer = Assert.Single(o.Processes, p => p.Pid == 77);
                // Not in our /proc (another PID namespace): NVML's name is used, and there is no container.
                Assert.Equal(("trainer", "", 1.0 * GiB), (trainer.Command, trainer.ContainerId, trainer.UsedBytes));
            }
        }
        finally
        {
            Directory.Delete(proc, recursive: true);
        }
    }

    [Fact]
    public void A_process_is_read_from_proc_once_while_it_stays_and_again_after_it_left()
    {
        string proc = Directory.CreateTempSubdirectory("gputel-proc-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(proc, "4242"));
            File.WriteAllText(Path.Combine(proc, "4242", "comm"), "python3\n");
            (GpuSession session, GpuDevice d) = OpenOne($"process compute 4242 {GiB}\n");
            using (session)
            {
                var collector = new ProcessCollector(new ProcessDescriber(proc));
                Assert.Equal("python3", Assert.Single(Run(collector, d).Processes).Command);

                // Still on the GPU: the remembered identity is used, /proc is not read again.
                File.WriteAllText(Path.Combine(proc, "4242", "comm"), "trainer\n");
                Assert.Equal("python3", Assert.Single(Run(collector, d).Processes).Command);

                // The process leaves the GPU; a process with the same pid arrives: read afresh.
                FakeNvml.LoadScript(Header() + Gpu(0));
                Assert.Empty(Run(collector, d).Processes);
                FakeNvml.LoadScript(Header() + Gpu(0, extra: $"process compute 4242 {GiB}\n"));
                Assert.Equal("trainer", Assert.Single(Run(collector, d).Processes).Command);
            }
        }
        finally
        {
            Directory.Delete(proc, recursive: true);
        }
    }

    [Fact]
    public async Task A_hung_process_list_on_one_gpu_does_not_hold_up_another_gpu()
    {
        // GPU 0's compute process list hangs for 5 s; GPU 1's must be read meanwhile.
        using GpuSession session = FakeNvml.Open(Header()
            + Gpu(0, extra: $"hang nvmlDeviceGetComputeRunningProcesses_v3 5000\nprocess compute 4242 {GiB}\n")
            + Gpu(1, extra: $"process compute 4343 {GiB}\n"));
        var collector = new ProcessCollector(new ProcessDescriber(Path.GetTempPath()));
        Task<CollectorOutput> hung = Task.Factory.StartNew(() => Run(collector, session.Devices[0]), TaskCreationOptions.LongRunning);
        Wait.Until(() => FakeNvml.CallCount("nvmlDeviceGetComputeRunningProcesses_v3") == 1, "GPU 0's process list call");

        Assert.Equal(4343, Assert.Single(Run(collector, session.Devices[1]).Processes).Pid);

        // GPU 0 has not got past its hung call (its graphics list comes next): GPU 1 did not wait for it.
        Assert.Equal(1UL, FakeNvml.CallCount("nvmlDeviceGetGraphicsRunningProcesses_v3"));
        Assert.Equal(4242, Assert.Single((await hung).Processes).Pid);
    }

    [Fact]
    public void Many_processes_grow_the_buffer()
    {
        string lines = string.Concat(Enumerable.Range(1000, 150).Select(pid => $"process compute {pid} {pid * 1024}\n"));
        (GpuSession session, GpuDevice d) = OpenOne(lines);
        using (session)
        {
            CollectorOutput o = Run(new ProcessCollector(new ProcessDescriber(Path.GetTempPath())), d);
            Assert.Equal(150, o.Processes.Count);
            Assert.Equal(1149.0 * 1024, o.Processes.Single(p => p.Pid == 1149).UsedBytes);
        }
    }

    [Fact]
    public void Xid_events_are_counted_per_code_and_the_last_one_kept()
    {
        (GpuSession session, GpuDevice d) = OpenOne("xid 50 79\nxid 100 48\nxid 150 79\n");
        using (session)
        using (var watcher = new XidWatcher(session.Driver!, session.Devices))
        {
            Assert.True(watcher.Supported);
            var collector = new XidCollector(watcher);
            CollectorOutput o = WaitFor(() => Run(collector, d), x => x.Readings.Where(r => ReferenceEquals(r.Metric, GpuMetrics.XidCount)).Sum(r => r.Value) == 3);

            Assert.Equal(2, o.Readings.Single(r => r.LabelValue == "79").Value);
            Assert.Equal(1, o.Readings.Single(r => r.LabelValue == "48").Value);
            Assert.Equal(79, Value(o, GpuMetrics.XidLast));
        }
    }

    [Fact]
    public void A_lost_gpu_is_reported_as_lost_not_as_a_collector_bug()
    {
        (GpuSession session, GpuDevice d) = OpenOne("lost 150 600000\n");
        using (session)
        {
            var store = new SampleStore(session.Devices, ["memory"]);
            Thread.Sleep(300);
            var e = Assert.Throws<NvmlException>(() => Run(new MemoryCollector(store), d));
            Assert.True(e.IsDeviceLost);
        }
    }

    [Fact]
    public void A_gpu_lost_at_start_is_skipped_with_a_warning_and_the_others_kept()
    {
        using GpuSession session = FakeNvml.Open(Header() + Gpu(0, extra: "lost 0 600000\n") + Gpu(1));
        GpuDevice only = Assert.Single(session.Devices);
        Assert.Equal((1, 0), (only.Index, only.Slot));
        Assert.Contains("GPU 0 skipped", Assert.Single(session.Warnings), StringComparison.Ordinal);
    }

    private static T WaitFor<T>(Func<T> probe, Func<T, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        T value = probe();
        while (!done(value) && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(20);
            value = probe();
        }

        return value;
    }
}
