using System.Text.Json;
using Gputel.Core.Memory;

namespace Gputel.Core.Records;

/// <summary>
/// Writes a run record directory: <c>run.json</c> (what ran, written atomically), <c>steps.jsonl</c>
/// (one line per phase per step) and <c>samples.jsonl</c> (device and process samples). The JSONL
/// files are append-only and each line is handed to the operating system whole as soon as it is
/// written, so a run killed at any moment leaves every completed line readable. <see cref="Complete"/>
/// writes <c>end.json</c> last: a record without it was cut off or is still being written.
/// </summary>
public sealed class RunRecordWriter : IDisposable
{
    private readonly FileStream _steps;
    private readonly FileStream _samples;
    private readonly Lock _gate = new();

    /// <summary>Creates <paramref name="directory"/> (if needed) and writes <c>run.json</c>.</summary>
    public RunRecordWriter(string directory, RunInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        System.IO.Directory.CreateDirectory(directory);
        RunDirectory = directory;
        // A directory used again: the earlier run's end marker would say this one had finished.
        File.Delete(Path.Combine(directory, "end.json"));
        WriteAtomically(Path.Combine(directory, "run.json"), JsonSerializer.SerializeToUtf8Bytes(info, RecordJson.Default.RunInfo));
        _steps = OpenAppend(Path.Combine(directory, "steps.jsonl"));
        _samples = OpenAppend(Path.Combine(directory, "samples.jsonl"));
    }

    /// <summary>The run record directory.</summary>
    public string RunDirectory { get; }

    /// <summary>Appends one phase snapshot, with the loss when the phase produced one.</summary>
    public void WriteStep(MemorySnapshot snapshot, double? loss = null, DateTimeOffset? time = null)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var bytes = new Dictionary<string, long>();
        foreach (MemoryCategory category in MemoryCategories.All)
        {
            bytes[category.ToName()] = snapshot[category];
        }

        var line = new StepLine(time ?? DateTimeOffset.UtcNow, snapshot.Step, snapshot.Phase, snapshot.Seconds, bytes, snapshot.AllocatorBytes, snapshot.PeakBytes, loss);
        AppendLine(_steps, JsonSerializer.SerializeToUtf8Bytes(line, RecordJson.Default.StepLine));
    }

    /// <summary>Appends one device sample.</summary>
    public void WriteSample(SampleLine sample)
    {
        ArgumentNullException.ThrowIfNull(sample);
        AppendLine(_samples, JsonSerializer.SerializeToUtf8Bytes(sample, RecordJson.Default.SampleLine));
    }

    /// <summary>Writes <c>end.json</c> (atomically): the run finished its loop and every line is written.</summary>
    public void Complete(RunEnd end)
    {
        ArgumentNullException.ThrowIfNull(end);
        lock (_gate)
        {
            WriteAtomically(Path.Combine(RunDirectory, "end.json"), JsonSerializer.SerializeToUtf8Bytes(end, RecordJson.Default.RunEnd));
        }
    }

    /// <summary>Writes <paramref name="contents"/> to a temporary file beside <paramref name="path"/> and renames it into place.</summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> contents)
    {
        string temporary = path + ".tmp-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(contents);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    private void AppendLine(FileStream stream, byte[] json)
    {
        // One write per line, newline included, so a kill can cut only the line being written.
        var line = new byte[json.Length + 1];
        json.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        lock (_gate)
        {
            stream.Write(line);
            stream.Flush();
        }
    }

    private static FileStream OpenAppend(string path) =>
        new(path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 1);

    /// <inheritdoc />
    public void Dispose()
    {
        _steps.Dispose();
        _samples.Dispose();
    }
}
