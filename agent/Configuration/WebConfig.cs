using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Gputel.Agent.Configuration;

/// <summary>
/// How <c>/metrics</c> is protected, from a web config file in the format of the Prometheus
/// exporter toolkit (<c>--web-config</c>): TLS from PEM files, optional client certificates, and
/// HTTP basic auth users with bcrypt hashes. Loaded and checked once at start-up by
/// <see cref="WebConfigLoader"/>.
/// </summary>
/// <param name="Path">The file it came from.</param>
/// <param name="Tls">TLS settings, or null to serve plain HTTP.</param>
/// <param name="BasicAuthUsers">User name to bcrypt hash; empty when basic auth is off.</param>
internal sealed record WebConfig(string Path, TlsServerConfig? Tls, IReadOnlyDictionary<string, string> BasicAuthUsers);

/// <summary>The <c>tls_server_config</c> section, with its files already read and checked.</summary>
/// <param name="Certificate">The server certificate with its private key (from <c>cert_file</c> and <c>key_file</c>).</param>
/// <param name="ClientCertificates">How clients must present certificates (<c>client_auth_type</c>).</param>
/// <param name="VerifyClients">Whether a presented client certificate must chain to <paramref name="ClientCas"/>.</param>
/// <param name="ClientCas">The trusted client CAs (<c>client_ca_file</c>), or null.</param>
/// <param name="Protocols">The TLS versions allowed (<c>min_version</c> to <c>max_version</c>).</param>
internal sealed record TlsServerConfig(
    X509Certificate2 Certificate,
    ClientCertificateMode ClientCertificates,
    bool VerifyClients,
    X509Certificate2Collection? ClientCas,
    SslProtocols Protocols);
