using System.Text.RegularExpressions;
using Gputel.Core.Memory;
using Gputel.Tests.Support;

namespace Gputel.Core.Tests;

/// <summary>The one category table: complete, consistent, and what every list is derived from.</summary>
public sealed partial class CategoryTableTests
{
    [Fact]
    public void Every_category_has_one_row_in_enum_order()
    {
        MemoryCategory[] members = Enum.GetValues<MemoryCategory>();

        Assert.Equal(members, MemoryCategories.Table.Select(r => r.Category));
        // Run records index their bytes by enum value: the categories they carry come first.
        Assert.Equal(members.Take(MemoryCategories.All.Count), MemoryCategories.All);
        Assert.All(MemoryCategories.Table, r => Assert.Equal(MemoryCategories.All.Contains(r.Category), r.InRunRecords));
        for (int i = 0; i < members.Length; i++)
        {
            Assert.Equal(i, (int)MemoryCategories.Table[i].Category);
        }
    }

    [Fact]
    public void Names_labels_colours_and_stack_places_are_distinct_and_well_formed()
    {
        IReadOnlyList<CategoryInfo> rows = MemoryCategories.Table;

        Assert.Equal(rows.Count, rows.Select(r => r.Name).Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(rows.Count, rows.Select(r => r.Label).Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(rows.Count, rows.Select(r => r.Colour).Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.Equal(Enumerable.Range(0, rows.Count), rows.Select(r => r.StackOrder).Order());
        Assert.All(rows, r => Assert.Matches(SnakeCase(), r.Name));
        Assert.All(rows, r => Assert.Matches(HexColour(), r.Colour));
        Assert.All(rows, r => Assert.False(string.IsNullOrWhiteSpace(r.Meaning), r.Name));
        Assert.DoesNotContain(MemoryCategories.UnknownColour, rows.Select(r => r.Colour));
    }

    [Fact]
    public void Names_parse_back_and_unknown_names_do_not()
    {
        foreach (MemoryCategory category in MemoryCategories.All)
        {
            Assert.True(MemoryCategories.TryParse(category.ToName(), out MemoryCategory parsed));
            Assert.Equal(category, parsed);
            Assert.Equal(category.Info().Colour, MemoryCategories.ColourOf(category.ToName()));
        }

        Assert.False(MemoryCategories.TryParse("Weights", out _));
        Assert.False(MemoryCategories.TryParse("lora_adapters_v9", out _));
        Assert.Equal(MemoryCategories.UnknownColour, MemoryCategories.ColourOf("lora_adapters_v9"));
    }

    [Fact]
    public void The_stack_starts_with_model_state_and_ends_with_temporary()
    {
        IReadOnlyList<MemoryCategory> stacked = MemoryCategories.Stacked;

        Assert.Equal(MemoryCategory.Weights, stacked[0]);
        int Place(MemoryCategory c) => stacked.ToList().IndexOf(c);
        Assert.True(Place(MemoryCategory.Gradients) < Place(MemoryCategory.OptimizerState) && Place(MemoryCategory.OptimizerState) < Place(MemoryCategory.Activations));
        Assert.Equal(MemoryCategory.Temporary, stacked[^1]);
        Assert.Equal(MemoryCategories.Table.OrderBy(r => r.StackOrder).Select(r => r.Category), stacked);
    }

    [Fact]
    public void No_source_file_outside_the_table_spells_out_the_category_list()
    {
        // A hard-coded list of names or colours elsewhere would drift from the table: look for any
        // source line naming three or more categories, or any of the table's colours.
        string[] names = MemoryCategories.Table.Select(r => $"\"{r.Name}\"").ToArray();
        string[] colours = MemoryCategories.Table.Select(r => r.Colour).ToArray();
        var offenders = new List<string>();
        foreach (string folder in new[] { "core", "profiler-hooks", "agent", "collector" })
        {
            foreach (string file in Directory.EnumerateFiles(Repo.Path(folder), "*.cs", SearchOption.AllDirectories))
            {
                if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                    || Path.GetFileName(file) == "MemoryCategories.cs")
                {
                    continue;
                }

                foreach ((string line, int number) in File.ReadLines(file).Select((l, i) => (l, i + 1)))
                {
                    if (names.Count(n => line.Contains(n, StringComparison.Ordinal)) >= 3
                        || colours.Any(c => line.Contains(c, StringComparison.OrdinalIgnoreCase)))
                    {
                        offenders.Add($"{Path.GetRelativePath(Repo.Root, file)}:{number}");
                    }
                }
            }
        }

        Assert.Empty(offenders);
    }

    [GeneratedRegex("^[a-z]+(_[a-z]+)*$")]
    private static partial Regex SnakeCase();

    [GeneratedRegex("^#[0-9a-f]{6}$")]
    private static partial Regex HexColour();
}
