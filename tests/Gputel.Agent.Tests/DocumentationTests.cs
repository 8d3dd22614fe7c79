using System.Text.RegularExpressions;
using Gputel.Collector.Collectors;
using Gputel.Tests.Support;

namespace Gputel.Agent.Tests;

/// <summary>
/// The documents point at what the repository holds: every document a file names exists, docs/README.md
/// indexes docs/, and the collector README lists every collector the agent has.
/// </summary>
public sealed partial class DocumentationTests
{
    private static readonly string[] TextExtensions = [".md", ".cs", ".sh", ".py", ".csproj", ".props", ".yaml", ".yml", ".c", ".h"];
    private static readonly string[] SkippedFolders = ["bin", "obj", "node_modules", ".git", "out", "BenchmarkDotNet.Artifacts", "runs", "publish"];

    [Fact]
    public void Every_document_a_file_names_is_in_the_repository()
    {
        string[] files = SourceFiles(Repo.Root).ToArray();
        var names = files.Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("METRICS.md", names);

        var missing = new List<string>();
        // This file names documents that are not there, to check the pattern.
        foreach (string file in files.Where(f => Path.GetFileName(f) != "DocumentationTests.cs"))
        {
            foreach (Match m in DocumentReference().Matches(File.ReadAllText(file)))
            {
                string reference = m.Value;
                bool found = reference.Contains('/', StringComparison.Ordinal)
                    ? File.Exists(Path.Combine(Repo.Root, reference)) || File.Exists(Path.Combine(Path.GetDirectoryName(file)!, reference))
                    : names.Contains(reference);
                if (!found)
                {
                    missing.Add($"{Path.GetRelativePath(Repo.Root, file)}: {reference}");
                }
            }
        }

        Assert.Empty(missing);
    }

    [Fact]
    public void The_reference_check_finds_a_document_that_is_not_there()
    {
        Assert.Equal(["docs/NOT-THERE.md", "NOT-THERE.md"], DocumentReference().Matches("see docs/NOT-THERE.md and NOT-THERE.md, not report.md").Select(m => m.Value));
    }

    [Fact]
    public void The_docs_README_indexes_every_file_in_docs()
    {
        string index = File.ReadAllText(Repo.Path("docs", "README.md"));
        string[] documents = Directory.GetFiles(Repo.Path("docs")).Select(Path.GetFileName).Where(n => n != "README.md").ToArray()!;

        Assert.NotEmpty(documents);
        Assert.All(documents, d => Assert.Contains($"| `{d}` |", index, StringComparison.Ordinal));
    }

    [Fact]
    public void The_collector_README_lists_every_collector()
    {
        string readme = File.ReadAllText(Repo.Path("collector", "README.md"));
        Match list = Regex.Match(readme, @"`--collectors` takes[^:]*:(?<names>(?:[^()]|\([^)]*\))*)\)");
        Assert.True(list.Success, "the README's collector list");
        string[] listed = Regex.Replace(list.Groups["names"].Value, @"\([^)]*\)", "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(CollectorCatalog.Names, listed);
    }

    private static IEnumerable<string> SourceFiles(string directory)
    {
        foreach (string file in Directory.EnumerateFiles(directory))
        {
            if (TextExtensions.Contains(Path.GetExtension(file), StringComparer.Ordinal))
            {
                yield return file;
            }
        }

        foreach (string sub in Directory.EnumerateDirectories(directory))
        {
            if (!SkippedFolders.Contains(Path.GetFileName(sub), StringComparer.Ordinal))
            {
                foreach (string file in SourceFiles(sub))
                {
                    yield return file;
                }
            }
        }
    }

    // Documents are named in capitals (METRICS.md, README.md, SCRIPT-FORMAT.md), with or without a
    // path; lower-case .md names are outputs (report.md) that exist only once a command has run.
    [GeneratedRegex(@"(?<![\w./-])(?:[\w.-]+/)*[A-Z][A-Z0-9_-]*\.md\b")]
    private static partial Regex DocumentReference();
}
