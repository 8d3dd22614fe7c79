namespace Gputel.Agent.Configuration;

/// <content>Endpoint protection (<c>--web-config</c>).</content>
internal sealed partial record AgentSettings
{
    /// <summary>TLS and basic auth for the HTTP endpoints, or null to serve plain HTTP to anyone who can connect.</summary>
    public WebConfig? Web { get; init; }
}
