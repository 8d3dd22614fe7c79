namespace Gputel.Collector.Exposition;

/// <summary>How the bytes of an exposition body are encoded for the wire.</summary>
public enum ExpositionEncoding
{
    /// <summary>The text as it is.</summary>
    Identity,

    /// <summary>The text gzip-compressed (<c>Content-Encoding: gzip</c>), as Prometheus asks for.</summary>
    Gzip,
}
