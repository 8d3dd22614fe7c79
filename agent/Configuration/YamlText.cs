using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Gputel.Agent.Configuration;

/// <summary>Parses YAML text for the settings loaders, turning every parser failure into a <see cref="SettingsException"/>.</summary>
internal static class YamlText
{
    /// <summary>
    /// Loads <paramref name="text"/>; <paramref name="what"/> names the file in messages. YamlDotNet
    /// reports most syntax errors as <see cref="YamlException"/>, but some malformed input (found by
    /// fuzzing) makes it throw <see cref="InvalidOperationException"/> or <see cref="ArgumentException"/>.
    /// </summary>
    public static YamlStream Load(string text, string what)
    {
        var yaml = new YamlStream();
        try
        {
            yaml.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new SettingsException($"{what} is not valid YAML (line {e.Start.Line}, column {e.Start.Column}): {e.Message}");
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            throw new SettingsException($"{what} is not valid YAML: {e.Message}");
        }

        return yaml;
    }
}
