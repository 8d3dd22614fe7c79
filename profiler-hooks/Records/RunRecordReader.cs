using System.Text.Json;

namespace Gputel.Profiler.Records;

/// <summary>
/// Reads a run record, keeping everything readable: a run cut off by a crash ends in a partial
/// line, and a damaged line in the middle is skipped; both are reported in <see cref="Warnings"/>.
/// </summary>
public sealed class RunRecordReader
{
    private RunRecordReader(RunInfo? info, List<StepLine> steps, List<SampleLine> samples, List<string> warnings)
    {
        Info = info;
        Steps = steps;
        Samples = samples;
        Warnings = warnings;
    }

    /// <summary>What ran, or null when <c>run.json</c> is missing or unreadable (see warnings).</summary>
    public RunInfo? Info { get; }

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
        try
        {
            info = JsonSerializer.Deserialize(File.ReadAllBytes(runJson), RecordJson.Default.RunInfo);
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            warnings.Add($"{runJson}: unreadable ({e.Message})");
        }

        return new RunRecordReader(
            info,
            ReadLines(stepsJsonl, RecordJson.Default.StepLine, warnings),
            ReadLines(Path.Combine(directory, "samples.jsonl"), RecordJson.Default.SampleLine, warnings),
            warnings);
    }

    private static List<T> ReadLines<T>(string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, List<string> warnings)
    {
        var result = new List<T>();
        if (!File.Exists(path))
        {
            return result;
        }

        string text = File.ReadAllText(path);
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Length == 0)
            {
                continue;
            }

            bool last = i == lines.Length - 1; // no newline after it: cut off while being written
            try
            {
                T? value = JsonSerializer.Deserialize(lines[i], type);
                if (value is not null)
                {
                    result.Add(value);
                }
            }
            catch (JsonException)
            {
                warnings.Add(last
                    ? $"{path}: the last line is incomplete (the run was cut off while writing it); {result.Count} complete lines read"
                    : $"{path}, line {i + 1}: not valid JSON, skipped");
            }
        }

        return result;
    }
}
