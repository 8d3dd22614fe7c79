using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Gputel.Collector.Model;
using Gputel.Collector.Nvml;
using Gputel.Collector.Sampling;
using Spectre.Console;

namespace Gputel.Agent.Commands;

/// <summary><c>gputel devices</c>: one sample of every GPU as a table (like nvidia-smi) or JSON.</summary>
internal static class DevicesCommand
{
    private const double MiB = 1024 * 1024;

    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print JSON (base units: bytes, watts, hertz, ratios) instead of a table." };
        var nvmlLibrary = new Option<string>("--nvml-library") { Description = "Path of libnvidia-ml.so.1 when it is not where the loader looks. Env GPUTEL_NVML_LIBRARY." };
        var command = new Command("devices", "Show every GPU once: memory, utilisation, power, temperature, clocks and processes.") { json, nvmlLibrary };
        command.SetAction(parse =>
        {
            string? library = parse.GetValue(nvmlLibrary) ?? Environment.GetEnvironmentVariable("GPUTEL_NVML_LIBRARY");
            if (library is not null && !File.Exists(library))
            {
                Console.Error.WriteLine($"gputel devices: invalid nvml-library '{library}': no such file");
                return Program.UsageError;
            }

            using GpuSession session = GpuSession.Open(library);
            if (session.UnavailableReason is not null)
            {
                if (parse.GetValue(json))
                {
                    Console.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string> { ["error"] = session.UnavailableReason }, DevicesJson.Default.DictionaryStringString));
                }

                Console.Error.WriteLine($"gputel devices: {session.UnavailableReason}");
                return 1;
            }

            DeviceSnapshot snapshot = DeviceSnapshot.Take(session);
            if (parse.GetValue(json))
            {
                Console.Out.WriteLine(ToJson(snapshot));
            }
            else
            {
                PrintTable(snapshot);
            }

            return 0;
        });
        return command;
    }

    private static void PrintTable(DeviceSnapshot s)
    {
        AnsiConsole.MarkupLine($"Driver [bold]{Markup.Escape(s.Session.DriverVersion)}[/]  NVML {Markup.Escape(s.Session.Driver!.NvmlVersion)}  {s.Devices.Count} GPU(s)");
        var table = new Table().Border(TableBorder.Rounded);
        foreach (string column in new[] { "GPU", "Name", "Bus-Id", "Memory used / total", "Util", "Power / limit", "Temp", "SM clock", "Procs" })
        {
            table.AddColumn(column);
        }

        foreach (GpuDevice d in s.Devices)
        {
            MemoryInfo? m = s.Memory(d.Slot);
            table.AddRow(
                d.Index.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(d.Name),
                Markup.Escape(d.PciBusId),
                m is { } mem ? $"{mem.Used / MiB:0} / {mem.Total / MiB:0} MiB" : s.IsUp(d.Slot) ? "n/a" : "[red]GPU lost[/]",
                Fmt(s.Value(d.Slot, GpuMetrics.Utilization), v => $"{v * 100:0} %"),
                $"{Fmt(s.Value(d.Slot, GpuMetrics.Power), v => $"{v:0} W")} / {Fmt(s.Value(d.Slot, GpuMetrics.PowerLimit), v => $"{v:0} W")}",
                Fmt(s.Value(d.Slot, GpuMetrics.Temperature), v => $"{v:0} C"),
                Fmt(s.Value(d.Slot, GpuMetrics.ClockSm), v => $"{v / 1e6:0} MHz"),
                s.Processes(d.Slot).Count().ToString(CultureInfo.InvariantCulture));
        }

        AnsiConsole.Write(table);

        var processes = s.Devices.SelectMany(d => s.Processes(d.Slot)).ToList();
        if (processes.Count > 0)
        {
            var procTable = new Table().Border(TableBorder.Rounded);
            foreach (string column in new[] { "GPU", "PID", "Command", "Container", "GPU memory" })
            {
                procTable.AddColumn(column);
            }

            foreach (ProcessReading p in processes)
            {
                procTable.AddRow(
                    s.Devices[p.Device].Index.ToString(CultureInfo.InvariantCulture), p.Pid.ToString(CultureInfo.InvariantCulture), Markup.Escape(p.Command),
                    p.ContainerId.Length > 12 ? p.ContainerId[..12] : p.ContainerId, $"{p.UsedBytes / MiB:0} MiB");
            }

            AnsiConsole.Write(procTable);
        }

        foreach (GpuDevice d in s.Devices)
        {
            foreach (string error in s.Errors(d.Slot))
            {
                AnsiConsole.MarkupLine($"[yellow]GPU {d.Index}: {Markup.Escape(error)}[/]");
            }
        }
    }

    private static string Fmt(double? value, Func<double, string> format) =>
        value is { } v ? format(v).ToString(CultureInfo.InvariantCulture) : "n/a";

    internal static string ToJson(DeviceSnapshot s)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("driver_version", s.Session.DriverVersion);
            w.WriteString("nvml_version", s.Session.Driver!.NvmlVersion);
            w.WriteString("nvml_library", s.Session.Driver.LibraryPath);
            w.WriteNumber("sample_seconds", s.SampleTime.TotalSeconds);
            w.WriteStartArray("gpus");
            foreach (GpuDevice d in s.Devices)
            {
                WriteDevice(w, s, d);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteDevice(Utf8JsonWriter w, DeviceSnapshot s, GpuDevice d)
    {
        int i = d.Slot;
        w.WriteStartObject();
        w.WriteNumber("index", d.Index);
        w.WriteString("name", d.Name);
        w.WriteString("uuid", d.Uuid);
        w.WriteString("pci_bus_id", d.PciBusId);
        // Every quantity of the metric catalogue that names a devices field, in its order: a
        // quantity added there shows here too.
        WriteCatalogue(w, s, i, s.Memory(i), migOnly: false);
        w.WriteStartArray("mig_instances");
        for (int m = 0; m < d.MigInstances.Count; m++)
        {
            w.WriteStartObject();
            w.WriteNumber("gpu_instance", d.MigInstances[m].GpuInstance);
            w.WriteNumber("compute_instance", d.MigInstances[m].ComputeInstance);
            WriteCatalogue(w, s, i, s.MigMemory(i, m), migOnly: true);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("processes");
        foreach (ProcessReading p in s.Processes(i))
        {
            w.WriteStartObject();
            w.WriteNumber("pid", p.Pid);
            w.WriteString("command", p.Command);
            w.WriteString("container_id", p.ContainerId);
            w.WriteNumber("used_bytes", p.UsedBytes);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("errors");
        foreach (string error in s.Errors(i))
        {
            w.WriteStringValue(error);
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>The top-level field a catalogue quantity's devices field belongs to (<c>clocks_hertz</c> for <c>clocks_hertz.sm</c>).</summary>
    internal static string TopField(string devicesField) =>
        devicesField.EndsWith("[]", StringComparison.Ordinal) ? devicesField[..^2]
        : devicesField.Contains('.', StringComparison.Ordinal) ? devicesField[..devicesField.IndexOf('.', StringComparison.Ordinal)]
        : devicesField;

    private static void WriteCatalogue(Utf8JsonWriter w, DeviceSnapshot s, int device, MemoryInfo? memory, bool migOnly)
    {
        foreach (IGrouping<string, MetricDescriptor> group in GpuMetrics.All.Where(m => m.DevicesField is not null).GroupBy(m => TopField(m.DevicesField!)))
        {
            MetricDescriptor[] fields = [.. group];
            bool memoryGroup = fields.All(GpuMetrics.IsMemory);
            if (migOnly && !memoryGroup)
            {
                // A MIG instance reports its own memory only.
                continue;
            }

            string name = group.Key;
            if (memoryGroup)
            {
                if (memory is not { } m)
                {
                    w.WriteNull(name);
                    continue;
                }

                w.WriteStartObject(name);
                foreach (MetricDescriptor f in fields)
                {
                    Number(w, f.DevicesField![(name.Length + 1)..], GpuMetrics.MemoryValue(f, m));
                }

                w.WriteEndObject();
            }
            else if (ReferenceEquals(fields[0], GpuMetrics.Up))
            {
                w.WriteBoolean(name, s.IsUp(device));
            }
            else if (fields[0].DevicesField!.EndsWith("[]", StringComparison.Ordinal))
            {
                // The labels of the quantities that are on now (the active throttle reasons).
                w.WriteStartArray(name);
                foreach (MetricDescriptor f in fields.Where(f => s.Value(device, f) == 1))
                {
                    w.WriteStringValue(f.LabelValue);
                }

                w.WriteEndArray();
            }
            else if (fields[0].DevicesField!.Contains('.', StringComparison.Ordinal))
            {
                w.WriteStartObject(name);
                foreach (MetricDescriptor f in fields)
                {
                    Number(w, f.DevicesField![(name.Length + 1)..], s.Value(device, f));
                }

                w.WriteEndObject();
            }
            else
            {
                Number(w, name, s.Value(device, fields[0]));
            }
        }
    }

    private static void Number(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class DevicesJson : System.Text.Json.Serialization.JsonSerializerContext;
