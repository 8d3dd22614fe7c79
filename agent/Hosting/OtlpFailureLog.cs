using System.Diagnostics.Tracing;
using System.Globalization;

namespace Gputel.Agent.Hosting;

/// <summary>
/// Makes OTLP export failures visible. The OpenTelemetry SDK reports a collector it cannot reach
/// only through its own EventSource, so an endpoint that is wrong or down would otherwise drop every
/// export without a word. The first failure is told at once; while exports keep failing, a reminder
/// with the count follows at most once per <see cref="ReminderInterval"/>.
/// </summary>
internal sealed class OtlpFailureLog : EventListener
{
    /// <summary>The OTLP exporter's EventSource.</summary>
    internal const string SourceName = "OpenTelemetry-Exporter-OpenTelemetryProtocol";

    /// <summary>How often a failure that goes on is told again.</summary>
    internal static readonly TimeSpan ReminderInterval = TimeSpan.FromMinutes(1);

    private readonly Lock _gate = new();
    private Action<string>? _warn;
    private long _failures;
    private long _lastToldTicks = long.MinValue;

    /// <summary>Starts telling failures to <paramref name="warn"/> until disposed.</summary>
    public OtlpFailureLog(Action<string> warn)
    {
        // EventListener's constructor may already call OnEventSourceCreated: the callback is set
        // under the lock those calls take, and events before it are kept as a count.
        lock (_gate)
        {
            _warn = warn;
        }
    }

    /// <inheritdoc />
    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == SourceName)
        {
            EnableEvents(eventSource, EventLevel.Warning);
        }
    }

    /// <inheritdoc />
    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (eventData.EventSource.Name != SourceName || eventData.Level > EventLevel.Warning)
        {
            return;
        }

        string what = Describe(eventData);
        Action<string>? warn;
        string line;
        lock (_gate)
        {
            _failures++;
            long now = Environment.TickCount64;
            if (_lastToldTicks != long.MinValue && now - _lastToldTicks < ReminderInterval.TotalMilliseconds)
            {
                return;
            }

            line = _lastToldTicks == long.MinValue
                ? $"OTLP export failed: {what}"
                : string.Create(CultureInfo.InvariantCulture, $"OTLP export still failing ({_failures} failures so far): {what}");
            _lastToldTicks = now;
            warn = _warn;
        }

        warn?.Invoke(line);
    }

    /// <summary>The event's message with its payload filled in, on one line.</summary>
    internal static string Describe(EventWrittenEventArgs e)
    {
        object?[] payload = e.Payload?.ToArray() ?? [];
        string text;
        try
        {
            text = e.Message is { } format ? string.Format(CultureInfo.InvariantCulture, format, payload) : string.Join("; ", payload);
        }
        catch (FormatException)
        {
            text = string.Join("; ", payload);
        }

        // The exception comes with its stack trace: the reason is in its first lines.
        return string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith("at ", StringComparison.Ordinal) && !l.StartsWith("---", StringComparison.Ordinal)));
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        lock (_gate)
        {
            _warn = null;
        }

        base.Dispose();
    }
}
