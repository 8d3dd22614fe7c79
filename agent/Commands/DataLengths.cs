using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Gputel.Core.Data;
using Gputel.Core.Estimation;
using Gputel.Core.Model;
using Gputel.Core.Reports;
using Spectre.Console;

namespace Gputel.Agent.Commands;

/// <summary>
/// <c>--data FILE</c> of <c>estimate</c> and <c>fit</c>: a dataset's token lengths, measured with
/// the tokenizer of the model's checkpoint directory, and how they are shown.
/// </summary>
internal static class DataLengths
{
    private static readonly string[] Percentiles = ["p50", "p90", "p99"];

    public static Option<string> CreateOption() => new("--data")
    {
        Description = "A dataset (JSON array or JSONL: Alpaca instruction/input/output, ShareGPT conversations, OpenAI messages) tokenized with --model's tokenizer.json: "
            + "prints its length distribution and estimates batches padded to their longest sequence (as collators pad them), the longest batch and a typical one, instead of every sequence padded to --cutoff-len.",
    };

    /// <summary>
    /// The lengths of <paramref name="dataPath"/>'s examples, with a progress line on stderr every
    /// few seconds for a big file.
    /// </summary>
    /// <exception cref="ArgumentException">The model has no tokenizer (a built-in shape).</exception>
    /// <exception cref="InvalidDataException">The file or the tokenizer is missing or malformed.</exception>
    public static SequenceLengths Measure(string command, string dataPath, string model)
    {
        string directory = TokenizerDirectory(model);
        ITextTokenizer tokenizer;
        try
        {
            tokenizer = HuggingFaceTokenizer.ForCheckpoint(directory);
        }
        catch (NotSupportedException e)
        {
            throw new InvalidDataException(e.Message, e);
        }

        using TrainingDataset dataset = TrainingDataset.Open(dataPath);
        return SequenceLengths.Measure(dataset, tokenizer, p => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"gputel {command}: {p.Examples:N0} examples tokenized, {100.0 * p.BytesRead / Math.Max(1, p.TotalBytes):0}% of {ByteText.Format(p.TotalBytes)} ({p.Elapsed.TotalSeconds:0} s)")));
    }

    /// <summary>The padded length of the batch that holds the longest example (at least the estimator's minimum of 2).</summary>
    public static int LongestBatch(SequenceLengths lengths, int cutoff) => Math.Max(2, lengths.LongestBatchLength(cutoff));

    /// <summary>The median padded length of a batch (at least 2).</summary>
    public static int TypicalBatch(SequenceLengths lengths, int batchSize, int cutoff) => Math.Max(2, lengths.TypicalBatchLength(batchSize, cutoff));

    /// <summary>The sentence that says what the estimate assumes without <c>--data</c>.</summary>
    public static string Assumption(int cutoff) => string.Create(CultureInfo.InvariantCulture,
        $"every sequence padded to --cutoff-len ({cutoff} tokens): an upper bound, since collators pad each batch to its longest sequence; --data FILE measures a dataset's lengths");

    /// <summary>The length distribution as a table, and the longest and typical batches' peaks.</summary>
    public static void Print(SequenceLengths lengths, int cutoff, MemoryEstimate longest, MemoryEstimate typical)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("tokens per example");
        string[] columns = ["examples", "min", .. Percentiles, "max", "mean", $"cut by {cutoff}"];
        foreach (string column in columns)
        {
            table.AddColumn(new TableColumn(Markup.Escape(column)).RightAligned());
        }

        table.AddRow([.. Row(lengths, cutoff).Select(Markup.Escape)]);
        AnsiConsole.Write(table);
        if (lengths.Skipped > 0)
        {
            AnsiConsole.MarkupLine(Markup.Escape($"{lengths.Skipped} records skipped: conversations that would not train (roles out of turn, no answer), as LLaMA-Factory drops them"));
        }

        int batch = longest.Request.BatchSize;
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"longest batch: {batch} x {longest.Request.CutoffLength} tokens, peak {ByteText.Format(longest.PeakBytes)} (the table above); typical batch (median of the longest of {batch} random examples): {batch} x {typical.Request.CutoffLength} tokens, peak {ByteText.Format(typical.PeakBytes)}")));
    }

    /// <summary>
    /// <c>sequence_lengths</c> of the JSON output: the assumption, or the dataset's distribution
    /// with the longest and typical batches' peaks.
    /// </summary>
    public static void WriteJson(Utf8JsonWriter w, int cutoff, SequenceLengths? lengths, string? dataPath, MemoryEstimate? longest, MemoryEstimate? typical)
    {
        w.WriteStartObject("sequence_lengths");
        if (lengths is null)
        {
            w.WriteString("assumption", "padded_to_cutoff");
            w.WriteString("note", Assumption(cutoff));
            w.WriteNumber("cutoff_length", cutoff);
        }
        else
        {
            w.WriteString("assumption", "padded_to_longest_in_batch");
            w.WriteString("data", dataPath);
            WriteDistribution(w, lengths, cutoff);
            if (longest is not null && typical is not null)
            {
                WriteBatch(w, "longest_batch", longest);
                WriteBatch(w, "typical_batch", typical);
            }
        }

        w.WriteEndObject();
    }

    /// <summary>The distribution's figures as properties of the current JSON object.</summary>
    public static void WriteDistribution(Utf8JsonWriter w, SequenceLengths lengths, int? cutoff)
    {
        w.WriteNumber("examples", lengths.Count);
        w.WriteNumber("skipped", lengths.Skipped);
        w.WriteNumber("min", lengths.Min);
        w.WriteNumber("p50", lengths.Percentile(0.5));
        w.WriteNumber("p90", lengths.Percentile(0.9));
        w.WriteNumber("p99", lengths.Percentile(0.99));
        w.WriteNumber("max", lengths.Max);
        w.WriteNumber("mean", Math.Round(lengths.Mean, 1));
        if (cutoff is { } c)
        {
            w.WriteNumber("cutoff_length", c);
            w.WriteNumber("cut_examples", lengths.CountLongerThan(c));
            w.WriteNumber("cut_share", Math.Round(lengths.ShareLongerThan(c), 4));
        }
    }

    /// <summary>The distribution's figures as table cells: examples, min, percentiles, max, mean and (with a cutoff) what it cuts.</summary>
    public static IEnumerable<string> Row(SequenceLengths lengths, int? cutoff)
    {
        yield return lengths.Count.ToString("N0", CultureInfo.InvariantCulture);
        yield return Text(lengths.Min);
        yield return Text(lengths.Percentile(0.5));
        yield return Text(lengths.Percentile(0.9));
        yield return Text(lengths.Percentile(0.99));
        yield return Text(lengths.Max);
        yield return lengths.Mean.ToString("0.0", CultureInfo.InvariantCulture);
        if (cutoff is { } c)
        {
            yield return Cut(lengths, c);
        }
    }

    /// <summary>How many examples a cutoff cuts, and their share: <c>12 (1.2%)</c>.</summary>
    public static string Cut(SequenceLengths lengths, int cutoff) => string.Create(CultureInfo.InvariantCulture,
        $"{lengths.CountLongerThan(cutoff):N0} ({100 * lengths.ShareLongerThan(cutoff):0.#}%)");

    private static void WriteBatch(Utf8JsonWriter w, string name, MemoryEstimate e)
    {
        w.WriteStartObject(name);
        w.WriteNumber("batch_size", e.Request.BatchSize);
        w.WriteNumber("length", e.Request.CutoffLength);
        w.WriteNumber("peak_bytes", e.PeakBytes);
        w.WriteEndObject();
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string TokenizerDirectory(string model)
    {
        if (ModelShape.BuiltInNames.Contains(model, StringComparer.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"--data needs the model's tokenizer: '{model}' is a built-in shape; give --model the checkpoint directory (config.json and tokenizer.json)");
        }

        string directory = Directory.Exists(model) ? model : Path.GetDirectoryName(Path.GetFullPath(model))!;
        bool hasVocabulary = File.Exists(Path.Combine(directory, HuggingFaceTokenizer.TokenizerJson))
            || (File.Exists(Path.Combine(directory, HuggingFaceTokenizer.VocabJson)) && File.Exists(Path.Combine(directory, HuggingFaceTokenizer.MergesTxt)));
        return hasVocabulary
            ? directory
            : throw new InvalidDataException($"{directory}: no tokenizer for --data (tokenizer.json, or vocab.json and merges.txt)");
    }
}
