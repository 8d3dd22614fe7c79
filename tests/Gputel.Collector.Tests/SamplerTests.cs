using Gputel.Collector.Collectors;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Sampling;
using Gputel.Collector.Store;
using Gputel.Tests.Support;
using static Gputel.Tests.Support.Scripts;

namespace Gputel.Collector.Tests;

/// <summary>The sampler's scheduling and fault handling, on the fake driver.</summary>
[Collection(FakeNvmlCollection.Name)]
public sealed class SamplerTests
{
    private static (SampleStore Store, Sampler Sampler, List<string> Log) Start(GpuSession session, params string[] names)
    {
        var store = new SampleStore(session.Devices, names);
        var log = new List<string>();
        var sampler = new Sampler(store, CollectorCatalog.Create(names, store, xid: null), TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(100), line =>
        {
            lock (log)
            {
                log.Add(line);
            }
        });
        sampler.Start();
        return (store, sampler, log);
    }

    /// <summary>A path for the fake driver's <c>lost_while</c>: the GPU is lost while the file exists.</summary>
    private static string LostFlag() => Path.Combine(Path.GetTempPath(), $"gputel-lost-{Guid.NewGuid():N}");

    [Fact]
    public void A_lost_gpu_is_marked_down_while_the_others_go_on_and_comes_back_without_a_restart()
    {
        using GpuSession session = FakeNvml.Open(Header() + Gpu(0) + Gpu(1, extra: "lost 400 1400\n"));
        (SampleStore store, Sampler sampler, List<string> log) = Start(session, "memory", "power");
        using (sampler)
        {
            Wait.Until(() => !store.IsUp(1), "GPU 1 to be marked down");
            Assert.False(store.Memory(1).TryRead(closeWindow: false, out _, out _));
            Assert.True(store.IsUp(0));

            // GPU 0 keeps being sampled while GPU 1 is down.
            long before = store.Get(0, 0)!.CompletedAt;
            Wait.Until(() => store.Get(0, 0)!.CompletedAt > before, "GPU 0 to be sampled again");

            Wait.Until(() => store.IsUp(1), "GPU 1 to come back");
            Wait.Until(() => store.Memory(1).TryRead(closeWindow: false, out _, out _), "GPU 1 memory again");
            Assert.True(store.Get(1, 1)!.Success);
            lock (log)
            {
                Assert.Contains(log, l => l.Contains("GPU 1", StringComparison.Ordinal) && l.Contains("lost", StringComparison.Ordinal));
                Assert.Contains(log, l => l.Contains("GPU 1", StringComparison.Ordinal) && l.Contains("answers again", StringComparison.Ordinal));
            }
        }
    }

    [Fact]
    public void Without_the_memory_collector_a_lost_gpu_is_probed_by_its_own_thread_and_comes_back()
    {
        string lostFlag = LostFlag();
        try
        {
            using GpuSession session = FakeNvml.Open(Header() + Gpu(0) + Gpu(1, extra: $"lost_while {lostFlag}\n"));
            (SampleStore store, Sampler sampler, _) = Start(session, "power", "temperature");
            using (sampler)
            {
                Wait.Until(() => store.Get(0, 1) is { Success: true }, "GPU 1 power");
                File.WriteAllText(lostFlag, string.Empty);
                Wait.Until(() => !store.IsUp(1), "GPU 1 to be marked down");

                File.Delete(lostFlag);
                Wait.Until(() => store.IsUp(1), "GPU 1 to come back");
                Wait.Until(() => store.Get(0, 1)!.Readings.Any(r => ReferenceEquals(r.Metric, GpuMetrics.Power)), "GPU 1 power again");
            }
        }
        finally
        {
            File.Delete(lostFlag);
        }
    }

    [Fact]
    public void A_run_that_makes_no_driver_call_does_not_mark_a_lost_gpu_up()
    {
        string lostFlag = LostFlag();
        try
        {
            using GpuSession session = FakeNvml.Open(Header() + Gpu(0, extra: $"lost_while {lostFlag}\n"));
            string[] names = ["power", "xid"];
            var store = new SampleStore(session.Devices, names);
            using var sampler = new Sampler(store, CollectorCatalog.Create(names, store, xid: null), TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(1));

            // Power finds the GPU lost; xid, which reads no driver, runs after it and succeeds.
            File.WriteAllText(lostFlag, string.Empty);
            sampler.SampleOnce();
            Assert.False(store.IsUp(0));

            File.Delete(lostFlag);
            sampler.SampleOnce();
            Assert.True(store.IsUp(0));
        }
        finally
        {
            File.Delete(lostFlag);
        }
    }

    [Fact]
    public void A_lost_gpu_serves_no_memory_of_its_mig_instances_either()
    {
        string lostFlag = LostFlag();
        try
        {
            using GpuSession session = FakeNvml.Open(Header() + Gpu(0, extra: $"mig_mode 1\nmig 1 0 {20 * GiB} {5 * GiB}\nlost_while {lostFlag}\n"));
            (SampleStore store, Sampler sampler, _) = Start(session, "memory");
            using (sampler)
            {
                Wait.Until(() => store.MigMemory(0, 0).TryRead(closeWindow: false, out _, out _), "MIG memory");
                File.WriteAllText(lostFlag, string.Empty);
                Wait.Until(() => !store.IsUp(0), "GPU 0 to be marked down");

                Assert.False(store.Memory(0).TryRead(closeWindow: false, out _, out _));
                Assert.False(store.MigMemory(0, 0).TryRead(closeWindow: false, out _, out _));
            }
        }
        finally
        {
            File.Delete(lostFlag);
        }
    }

    [Fact]
    public void A_failing_collector_fails_alone_and_not_supported_is_not_a_failure()
    {
        using GpuSession session = FakeNvml.Open(Header()
            + Gpu(0, extra: "fail nvmlDeviceGetTemperature 999\nfail nvmlDeviceGetPowerUsage 3\n")
            + Gpu(1));
        (SampleStore store, Sampler sampler, _) = Start(session, "memory", "temperature", "power");
        using (sampler)
        {
            Wait.Until(() => Enumerable.Range(0, 3).All(c => store.Get(c, 0) is not null && store.Get(c, 1) is not null), "every collector to run");

            // The die temperature failed; the run completed, and its memory temperature is served.
            CollectorResult temperature0 = store.Get(1, 0)!;
            Assert.True(temperature0.Success);
            Assert.Equal(1, temperature0.FailedReadings);
            Assert.False(temperature0.Complete);
            Assert.DoesNotContain(temperature0.Readings, r => r.Metric.Name == "gpu_temperature_celsius");
            Assert.Contains(temperature0.Readings, r => r.Metric.Name == "gpu_memory_temperature_celsius");
            Assert.True(store.Get(1, 1)!.Complete);
            Assert.True(store.Get(2, 0)!.Complete);
            Assert.DoesNotContain(store.Get(2, 0)!.Readings, r => r.Metric.Name == "gpu_power_watts");
            Assert.True(store.IsUp(0));
        }
    }

    [Fact]
    public void A_failing_reading_is_logged_once_and_once_when_it_works_again()
    {
        using GpuSession session = FakeNvml.Open(Header() + Gpu(0, extra: "fail nvmlDeviceGetPowerUsage 999\n") + Gpu(1, extra: "fail nvmlDeviceGetPowerUsage 999\n"));
        string[] names = ["power"];
        var store = new SampleStore(session.Devices, names);
        var log = new List<string>();
        using var sampler = new Sampler(store, CollectorCatalog.Create(names, store, xid: null), TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(1), log.Add);

        for (int i = 0; i < 3; i++)
        {
            sampler.SampleOnce();
        }

        // Both GPUs fail the same reading on every run: one line, naming it and the first GPU.
        Assert.Equal(
            ["collector power on GPU 0: reading nvmlDeviceGetPowerUsage: unknown error (999); its other readings are still served"],
            log);
        Assert.Equal(1, store.Get(0, 1)!.FailedReadings);
        Assert.Contains(store.Get(0, 1)!.Readings, r => r.Metric.Name == "gpu_power_limit_watts");

        FakeNvml.LoadScript(Header() + Gpu(0) + Gpu(1));
        sampler.SampleOnce();
        sampler.SampleOnce();
        Assert.Equal("collector power on GPU 0: reading nvmlDeviceGetPowerUsage works again", log[^1]);
        Assert.Equal(2, log.Count);
        Assert.Equal(0, store.Get(0, 0)!.FailedReadings);
    }

    [Fact]
    public void A_hung_call_on_one_gpu_does_not_stop_sampling_of_the_others()
    {
        using GpuSession session = FakeNvml.Open(Header() + Gpu(0, extra: "hang nvmlDeviceGetTemperature 3000\n") + Gpu(1));
        (SampleStore store, Sampler sampler, _) = Start(session, "memory", "temperature");
        using (sampler)
        {
            Wait.Until(() => store.Get(0, 1) is not null, "GPU 1 memory");
            Thread.Sleep(150);
            long start = store.Get(0, 1)!.CompletedAt;
            Wait.Until(() => store.Get(0, 1)!.CompletedAt >= start + 200, "GPU 1 memory sampling to go on for 200 ms");
            // GPU 0's thread is inside the hung call: its temperature has not been published.
            Assert.Null(store.Get(1, 0));
        }
    }

    [Fact]
    public void A_hung_memory_call_is_set_aside_by_the_watchdog_and_the_other_gpus_keep_their_cadence()
    {
        // Every memory call on GPU 0 hangs for 3 s; GPU 1's memory rises to 5 GiB at t = 1.5 s.
        using GpuSession session = FakeNvml.Open(Header()
            + Gpu(0, extra: "hang nvmlDeviceGetMemoryInfo_v2 3000\n")
            + Gpu(1, usedBytes: GiB, extra: $"memory_timeline 1500:{5 * GiB}\n"));
        (SampleStore store, Sampler sampler, List<string> log) = Start(session, "memory");
        using (sampler)
        {
            // Seen only if memory sampling went on while GPU 0's first call was still hanging.
            Wait.Until(() => store.Memory(1).TryRead(closeWindow: false, out MemoryInfo m, out _) && m.Used == 5 * GiB, "GPU 1 at 5 GiB", seconds: 10);
            lock (log)
            {
                Assert.Contains(log, l => l.StartsWith("GPU 0: a memory call has not returned", StringComparison.Ordinal));
            }

            Wait.Until(() => { lock (log) { return log.Any(l => l.Contains("hung memory call returned", StringComparison.Ordinal)); } }, "GPU 0 to be handed back");
        }
    }

    [Fact]
    public void A_gpu_set_aside_by_the_watchdog_serves_no_memory_of_its_mig_instances_either()
    {
        string script = Header() + Gpu(0, extra: $"mig_mode 1\nmig 1 0 {20 * GiB} {5 * GiB}\n");
        using GpuSession session = FakeNvml.Open(script);
        (SampleStore store, Sampler sampler, List<string> log) = Start(session, "memory");
        using (sampler)
        {
            Wait.Until(() => store.MigMemory(0, 0).TryRead(closeWindow: false, out _, out _), "MIG memory");

            // From now on every memory call on GPU 0 and its MIG instance hangs for 5 s.
            FakeNvml.LoadScript(script + "hang nvmlDeviceGetMemoryInfo_v2 5000\n");
            Wait.Until(() => { lock (log) { return log.Any(l => l.StartsWith("GPU 0: a memory call has not returned", StringComparison.Ordinal)); } }, "GPU 0 to be set aside");

            Assert.False(store.Memory(0).TryRead(closeWindow: false, out _, out _));
            Assert.False(store.MigMemory(0, 0).TryRead(closeWindow: false, out _, out _));
        }
    }

    [Fact]
    public void Stopping_while_a_driver_call_hangs_is_safe_when_the_call_returns_later()
    {
        using GpuSession session = FakeNvml.Open(Header() + Gpu(0, extra: "hang nvmlDeviceGetTemperature 3000\n"));
        (SampleStore store, Sampler sampler, _) = Start(session, "memory", "temperature");
        Thread.Sleep(200);
        sampler.Dispose();

        // Dispose gives up on the hung thread after 2 s; the call returns at 3 s, after the sampler
        // stopped: the thread must end quietly, not crash the process.
        Thread.Sleep(3500);
        long? memory = store.Get(0, 0)?.CompletedAt, temperature = store.Get(1, 0)?.CompletedAt;
        Thread.Sleep(300);
        Assert.Equal((memory, temperature), (store.Get(0, 0)?.CompletedAt, store.Get(1, 0)?.CompletedAt));
    }

    [Fact]
    public void One_shot_sample_fills_every_collector_for_every_device()
    {
        using GpuSession session = FakeNvml.Open(Header() + Gpu(0) + Gpu(1));
        string[] names = CollectorCatalog.Names.ToArray();
        var store = new SampleStore(session.Devices, names);
        using var sampler = new Sampler(store, CollectorCatalog.Create(names, store, xid: null), TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(1));

        sampler.SampleOnce();

        for (int c = 0; c < names.Length; c++)
        {
            int[] slots = names[c] == "host" ? [store.HostSlot] : [0, 1];
            Assert.All(slots, slot => Assert.True(store.Get(c, slot)?.Success, $"{names[c]} on slot {slot}"));
        }

        Assert.True(store.Memory(1).TryRead(closeWindow: false, out MemoryInfo memory, out _));
        Assert.Equal(10 * GiB, memory.Used);
    }
}
