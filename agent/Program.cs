using System.CommandLine;
using Gputel.Agent.Commands;

namespace Gputel.Agent;

/// <summary>Entry point of the <c>gputel</c> command.</summary>
internal static class Program
{
    /// <summary>Exit code for bad flags, config values or input.</summary>
    public const int UsageError = 2;

    /// <summary>
    /// An exception's message for a one-line error: without the "(Parameter 'name')" and "Actual
    /// value was" lines .NET appends to argument exceptions, which name code, not the user's option.
    /// </summary>
    internal static string Describe(Exception e)
    {
        string message = e.Message;
        if (e is ArgumentException { ParamName: { } name })
        {
            message = message.Replace($" (Parameter '{name}')", string.Empty, StringComparison.Ordinal);
        }

        int actual = message.IndexOf("Actual value was", StringComparison.Ordinal);
        return (actual >= 0 ? message[..actual] : message).Trim();
    }

    /// <summary>Columns Spectre.Console lays output out in when it goes to a file or pipe.</summary>
    internal const int RedirectedWidth = 400;

    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("gputel: GPU telemetry agent and training-memory profiler.")
        {
            AgentCommand.Create(),
            DevicesCommand.Create(),
            EstimateCommand.Create(),
            FitCommand.Create(),
            ReportCommand.Create(),
        };
#if FINETUNE
        root.Add(FinetuneCommand.Create());
#endif

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (System.CommandLine.Parsing.ParseError error in parsed.Errors)
            {
                await Console.Error.WriteLineAsync($"gputel: {error.Message}").ConfigureAwait(false);
            }

            string help = parsed.CommandResult.Command is RootCommand ? "gputel --help" : $"gputel {parsed.CommandResult.Command.Name} --help";
            await Console.Error.WriteLineAsync($"Run '{help}' for usage.").ConfigureAwait(false);
            return UsageError;
        }

        // Output that goes to a file or a pipe (logs, CI) is not wrapped at 80 columns, Spectre's
        // width where there is no terminal: long paths and lines stay whole for grep. COLUMNS, where
        // set, still decides.
        if (Console.IsOutputRedirected)
        {
            Spectre.Console.AnsiConsole.Profile.Width =
                int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out int columns) && columns > 0 ? columns : RedirectedWidth;
        }

        var invocation = new InvocationConfiguration();
#if FINETUNE
        // Before the command runs (parsing has no side effects): a fine-tune restarts itself with the
        // JIT's slab cache off.
        FinetuneRestart.IfNeeded(parsed);

        // A fine-tune handles its own Ctrl-C and SIGTERM (FinetuneCommand): System.CommandLine's handler
        // threw from its signal thread at a second Ctrl-C and aborted the process with a stack trace.
        if (parsed.CommandResult.Command.Name == "finetune")
        {
            invocation.ProcessTerminationTimeout = null;
        }
#endif

        return await parsed.InvokeAsync(invocation).ConfigureAwait(false);
    }
}
