using System.Text.Json.Serialization;

namespace Gputel.Core.Reports;

/// <summary>Where a recorded run stands, as far as its record and this machine can tell.</summary>
public enum RunStatus
{
    /// <summary>The run wrote its end marker (<c>end.json</c>): every line is in.</summary>
    [JsonStringEnumMemberName("complete")]
    Complete,

    /// <summary>No end marker yet and the process writing the record is still running.</summary>
    [JsonStringEnumMemberName("in_progress")]
    InProgress,

    /// <summary>No end marker and the writer is gone (killed, crashed, out of memory), or it was stopped early.</summary>
    [JsonStringEnumMemberName("cut_off")]
    CutOff,

    /// <summary>The run ended on an error it recorded in its end marker (a CUDA out-of-memory error, most often).</summary>
    [JsonStringEnumMemberName("failed")]
    Failed,
}
