using System.Globalization;
using Gputel.Core.Records;
using Gputel.Profiler.Memory;

namespace Gputel.Profiler.Records;

/// <summary>
/// Writes a host sample to <c>samples.jsonl</c> every <see cref="Interval"/> on a thread of its own,
/// from the start of training to its end: <c>gpu</c> -1, <c>used_bytes</c> what malloc has handed
/// out (glibc <c>mallinfo2</c>, the whole process, nothing subtracted) and <c>process_used_bytes</c>
/// the process's resident set (<c>/proc/self/statm</c>). It only reads: no tensors, no malloc from
/// its own work that the phase accounting could see (JSON and file writes use managed memory and
/// system calls), and one read of each figure per interval, so the phase figures are unchanged.
/// A run on a GPU adds that device's sample each time (<c>gpu</c> its NVML index, <c>used_bytes</c>
/// the device's, <c>process_used_bytes</c> this process's), which the report's line follows.
/// </summary>
internal sealed class HostSampler : IDisposable
{
    /// <summary>How often a sample is written.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);

    private readonly RunRecordWriter _record;
    private readonly Func<SampleLine?>? _device;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _stop = new(false);
    private readonly long _pageSize = Environment.SystemPageSize;
    private int _disposed;

    public HostSampler(RunRecordWriter record, Func<SampleLine?>? device = null)
    {
        _record = record;
        _device = device;
        _thread = new Thread(Run) { IsBackground = true, Name = "gputel-samples" };
        _thread.Start();
    }

    private void Run()
    {
        // One sample at once and one at the end, so that even a run shorter than the interval has both ends.
        do
        {
            WriteOne();
        }
        while (!_stop.Wait(Interval));

        WriteOne();
    }

    private void WriteOne()
    {
        try
        {
            if (CpuAllocator.InUseBytes() is { } used)
            {
                _record.WriteSample(new SampleLine(DateTimeOffset.UtcNow, -1, used, ResidentBytes()));
            }

            if (_device?.Invoke() is { } sample)
            {
                _record.WriteSample(sample);
            }
        }
        catch (ObjectDisposedException)
        {
            // The record was closed first; the run is over.
        }
    }

    /// <summary>The resident set in bytes: the second field of <c>/proc/self/statm</c>, in pages.</summary>
    private long? ResidentBytes()
    {
        try
        {
            return ParseResidentPages(File.ReadAllText("/proc/self/statm")) is { } pages ? pages * _pageSize : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Pages resident, from the text of <c>/proc/PID/statm</c> (<c>size resident shared text lib data dt</c>).</summary>
    internal static long? ParseResidentPages(string statm)
    {
        string[] fields = statm.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 1 && long.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out long pages) ? pages : null;
    }

    /// <summary>Stops the thread after one last sample.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _stop.Set();
        _thread.Join();
        _stop.Dispose();
    }
}
