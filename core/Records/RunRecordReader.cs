using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Gputel.Core.Records;

/// <summary>
/// Reads a run record, keeping everything readable: a run cut off by a crash ends in a partial
/// line, and a damaged line in the middle is skipped; both are reported in <see cref="Warnings"/>.
/// </summary>
public sealed class RunRecordReader
{
    // Lines are parsed straight from UTF-8 chunks, never turned into strings: a long run's
    // samples.jsonl has hundreds of thousands of lines.
    private const int ChunkBytes = 1 << 20;

    private RunRecordReader(string directory, RunInfo? info, RunEnd? end, List<StepLine> steps, List<SampleLine> samples, List<string> warnings)
    {
        Directory = directory;
        Info = info;
        End = end;
        Steps = steps;
        Samples = samples;
        Warnings = warnings;
    }

    /// <summary>A record made in memory from another source (a PyTorch memory snapshot), read as a run record is.</summary>
    internal static RunRecordReader FromLines(string source, RunInfo info, RunEnd end, List<StepLine> steps, List<SampleLine> samples, List<string> warnings) =>
        new(source, info, end, steps, samples, warnings);

    /// <summary>The run record directory that was read.</summary>
    public string Directory { get; }

    /// <summary>What ran, or null when <c>run.json</c> is missing or unreadable (see warnings).</summary>
    public RunInfo? Info { get; }

    /// <summary>How the run ended (<c>end.json</c>), or null when it has not (yet) ended cleanly.</summary>
    public RunEnd? End { get; }

    /// <summary>Every complete step line, in file order.</summary>
    public IReadOnlyList<StepLine> Steps { get; }

    /// <summary>Every complete sample line, in file order.</summary>
    public IReadOnlyList<SampleLine> Samples { get; }

    /// <summary>What could not be read, one line each, naming the file and line.</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>
    /// Reads <paramref name="directory"/>. Throws <see cref="DirectoryNotFoundException"/> when it does
    /// not exist and <see cref="InvalidDataException"/> when it holds no run record at all.
    /// </summary>
    public static RunRecordReader Read(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"no such run directory: {directory}");
        }

        string runJson = Path.Combine(directory, "run.json"), stepsJsonl = Path.Combine(directory, "steps.jsonl");
        if (!File.Exists(runJson) && !File.Exists(stepsJsonl))
        {
            throw new InvalidDataException($"{directory} is not a run record: it has neither run.json nor steps.jsonl");
        }

        var warnings = new List<string>();
        RunInfo? info = null;
        if (!File.Exists(runJson))
        {
            warnings.Add($"{runJson}: missing, so what ran (model, method, settings) is unknown");
        }
        else
        {
            try
            {
                info = JsonSerializer.Deserialize(File.ReadAllBytes(runJson), RecordJson.Default.RunInfo);
            }
            catch (Exception e) when (e is IOException or JsonException)
            {
                warnings.Add($"{runJson}: unreadable ({e.Message})");
            }
        }

        RunEnd? end = null;
        string endJson = Path.Combine(directory, "end.json");
        if (File.Exists(endJson))
        {
            try
            {
                end = JsonSerializer.Deserialize(File.ReadAllBytes(endJson), RecordJson.Default.RunEnd);
            }
            catch (Exception e) when (e is IOException or JsonException)
            {
                warnings.Add($"{endJson}: unreadable ({e.Message})");
            }
        }

        // The two files in parallel: parsing is the whole cost of reading a long run.
        var sampleWarnings = new List<string>();
        Task<List<SampleLine>> samples = Task.Run(() => ReadLines(Path.Combine(directory, "samples.jsonl"), RecordJson.Default.SampleLine, _ => null, sampleWarnings));
        List<StepLine> steps = ReadLines(stepsJsonl, RecordJson.Default.StepLine, StepProblem, warnings);
        List<SampleLine> sampleLines = samples.GetAwaiter().GetResult();
        warnings.AddRange(sampleWarnings);
        return new RunRecordReader(directory, info, end, steps, sampleLines, warnings);
    }

    /// <summary>Why a parsed step line cannot be used, or null when it can.</summary>
    private static string? StepProblem(StepLine line)
    {
        if (line.Bytes is null)
        {
            return "a required field is missing";
        }

        // The phase ended at Time after Seconds: a duration reaching back before the first
        // representable time is no duration (and overflows whoever turns it into a TimeSpan).
        return line.Seconds > (line.Time - DateTimeOffset.MinValue).TotalSeconds
            ? string.Create(CultureInfo.InvariantCulture, $"seconds {line.Seconds} is longer than any phase can last")
            : null;
    }

    private static List<T> ReadLines<T>(string path, JsonTypeInfo<T> type, Func<T, string?> problem, List<string> warnings)
    {
        var result = new List<T>();
        if (!File.Exists(path))
        {
            return result;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1, FileOptions.SequentialScan);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            int filled = 0, lineNumber = 0;
            while (true)
            {
                int read = stream.Read(buffer, filled, buffer.Length - filled);
                filled += read;
                int start = 0;
                while (true)
                {
                    int newline = Array.IndexOf(buffer, (byte)'\n', start, filled - start);
                    if (newline < 0)
                    {
                        break;
                    }

                    lineNumber++;
                    Parse(buffer.AsSpan(start, newline - start), lineNumber, last: false);
                    start = newline + 1;
                }

                // Keep the unfinished line for the next chunk, growing the buffer for a line longer than it.
                filled -= start;
                Buffer.BlockCopy(buffer, start, buffer, 0, filled);
                if (read == 0)
                {
                    break;
                }

                if (filled == buffer.Length)
                {
                    byte[] larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    Buffer.BlockCopy(buffer, 0, larger, 0, filled);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
            }

            // No newline after it: the writer was stopped while writing this line.
            if (filled > 0)
            {
                Parse(buffer.AsSpan(0, filled), lineNumber + 1, last: true);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return result;

        void Parse(ReadOnlySpan<byte> line, int number, bool last)
        {
            if (line.IsEmpty)
            {
                return;
            }

            try
            {
                T? value = JsonSerializer.Deserialize(line, type);
                if (value is not null && problem(value) is { } why)
                {
                    warnings.Add($"{path}, line {number}: {why}, skipped");
                }
                else if (value is not null)
                {
                    result.Add(value);
                }
            }
            catch (JsonException)
            {
                warnings.Add(last
                    ? $"{path}: the last line is incomplete (the run was cut off while writing it); {result.Count} complete lines read"
                    : $"{path}, line {number}: not valid JSON, skipped");
            }
        }
    }
}
