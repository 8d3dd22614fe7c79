using System.Text;
using Gputel.Agent.Configuration;
using Gputel.Core.Checkpoints;
using Gputel.Core.Records;
using Gputel.Profiler.Checkpoints;
using Gputel.Profiler.Records;

namespace Gputel.Fuzz;

/// <summary>
/// Fuzz targets for the parsers that read untrusted files. Each target feeds one input to a parser
/// and swallows only the exceptions that parser documents; anything else escaping (or a result that
/// breaks the parser's promises) is a crash for the fuzzer.
/// <code>
/// Gputel.Fuzz TARGET                 under afl-fuzz (SharpFuzz out-of-process mode; see fuzz/run.sh)
/// Gputel.Fuzz TARGET --replay PATH.. run files (or every file in folders) once, in-process, and report
/// </code>
/// </summary>
internal static class Program
{
    private static readonly Dictionary<string, Action<byte[]>> Targets = new(StringComparer.Ordinal)
    {
        ["safetensors"] = Safetensors,
        ["runrecord"] = RunRecord,
        ["config"] = AgentConfig,
        ["webconfig"] = WebConfigFile,
    };

    private static readonly string Scratch = Directory.CreateDirectory(Path.Combine(
        Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"gputel-fuzz-{Environment.ProcessId}")).FullName;

    public static int Main(string[] args)
    {
        if (args.Length == 0 || !Targets.TryGetValue(args[0], out Action<byte[]>? target))
        {
            Console.Error.WriteLine($"usage: Gputel.Fuzz {string.Join('|', Targets.Keys)} [--replay FILE_OR_DIR...]");
            return 2;
        }

        try
        {
            if (args.Length > 1 && args[1] == "--replay")
            {
                return Replay(target, args[2..]);
            }

            SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
            {
                using var memory = new MemoryStream();
                stream.CopyTo(memory);
                target(memory.ToArray());
            });
            return 0;
        }
        finally
        {
            Directory.Delete(Scratch, recursive: true);
        }
    }

    private static int Replay(Action<byte[]> target, string[] paths)
    {
        int runs = 0, crashes = 0;
        foreach (string file in paths.SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories) : [p]))
        {
            runs++;
            try
            {
                target(File.ReadAllBytes(file));
            }
            catch (Exception e)
            {
                crashes++;
                Console.WriteLine($"CRASH {file}: {e.GetType().FullName}: {e.Message}\n{e.StackTrace}");
            }
        }

        Console.WriteLine($"{runs} inputs, {crashes} crashes");
        return crashes == 0 ? 0 : 1;
    }

    /// <summary>The first two bytes are the data section's length (little-endian); the rest is the JSON header.</summary>
    private static void Safetensors(byte[] input)
    {
        if (input.Length < 2)
        {
            return;
        }

        long dataLength = input[0] | (input[1] << 8);
        SafetensorsHeader header;
        try
        {
            header = SafetensorsHeader.Parse(input.AsMemory(2), dataLength, "fuzz.safetensors");
        }
        catch (SafetensorsException)
        {
            return;
        }

        foreach (TensorEntry entry in header.Entries)
        {
            Check(entry.Name is not null && entry.Shape is not null, "a tensor without a name or shape");
            Check(entry.DataOffset >= 0 && entry.ByteLength >= 0 && entry.DataOffset + entry.ByteLength <= dataLength, $"tensor '{entry.Name}' outside the data section");
        }
    }

    /// <summary>Parts separated by NUL bytes become run.json, steps.jsonl and samples.jsonl (an empty part: no file).</summary>
    private static void RunRecord(byte[] input)
    {
        string[] names = ["run.json", "steps.jsonl", "samples.jsonl"];
        int start = 0;
        for (int i = 0; i < names.Length; i++)
        {
            int end = Array.IndexOf(input, (byte)0, start);
            end = end < 0 || i == names.Length - 1 ? input.Length : end;
            string path = Path.Combine(Scratch, names[i]);
            if (end > start)
            {
                File.WriteAllBytes(path, input[start..end]);
            }
            else
            {
                File.Delete(path);
            }

            start = Math.Min(end + 1, input.Length);
        }

        RunRecordReader record;
        try
        {
            record = RunRecordReader.Read(Scratch);
        }
        catch (Exception e) when (e is InvalidDataException or DirectoryNotFoundException)
        {
            return;
        }

        // What the reader returns must be usable without null checks the types do not announce.
        if (record.Info is { } info)
        {
            Check(info.RunId is not null && info.Model is not null && info.Method is not null && info.Dtype is not null
                && info.Device is not null && info.Settings is not null && info.Versions is not null, "run.json read with a missing field");
        }

        foreach (StepLine step in record.Steps)
        {
            Check(step.Phase is not null && step.Bytes is not null, "a step line read with a missing field");
        }

        Check(record.Warnings.All(w => w is not null), "a null warning");
    }

    private static void AgentConfig(byte[] input)
    {
        string path = Path.Combine(Scratch, "agent.yaml");
        File.WriteAllBytes(path, input);
        try
        {
            SettingsLoader.Load(path, new Dictionary<string, string?>(), _ => null);
        }
        catch (SettingsException)
        {
        }
    }

    private static void WebConfigFile(byte[] input)
    {
        string path = Path.Combine(Scratch, "web.yml");
        File.WriteAllBytes(path, input);
        try
        {
            WebConfigLoader.Load(path, "fuzz");
        }
        catch (SettingsException)
        {
        }
    }

    private static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException("broken promise: " + what);
        }
    }
}
