using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Gputel.Agent.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Gputel.Agent.Hosting;

/// <summary>
/// Serves the agent's endpoints as the web config says: TLS from PEM files (with optional client
/// certificates) and HTTP basic auth against bcrypt hashes. <c>/health</c> stays open to probes
/// without credentials (it tells only whether the agent runs and how many GPUs answer); every
/// other path needs them. Passwords, hashes and keys are never logged.
/// </summary>
internal static class WebSecurity
{
    /// <summary>Listens on the settings' address, over TLS when the web config has a tls_server_config.</summary>
    public static void Listen(WebApplicationBuilder builder, AgentSettings settings)
    {
        TlsServerConfig? tls = settings.Web?.Tls;
        builder.WebHost.ConfigureKestrel(k => k.Listen(settings.Listen.Address, settings.Listen.Port, listen =>
        {
            if (tls is null)
            {
                return;
            }

            listen.UseHttps(https =>
            {
                https.ServerCertificate = tls.Certificate;
                https.SslProtocols = tls.Protocols;
                https.ClientCertificateMode = tls.ClientCertificates;
                https.ClientCertificateValidation = (certificate, _, errors) => !tls.VerifyClients || ChainsTo(certificate, tls.ClientCas!);
            });
        }));
    }

    /// <summary>Adds basic auth in front of every endpoint but <c>/health</c> when the web config has users.</summary>
    public static void UseAuthentication(WebApplication app, AgentSettings settings, ILogger log)
    {
        WebConfig? web = settings.Web;
        if (web is null)
        {
            return;
        }

        log.LogInformation(
            "web config {Path}: {Tls}; basic auth {Auth}",
            web.Path,
            web.Tls is null ? "plain HTTP" : $"TLS ({web.Tls.Protocols}, certificate {web.Tls.Certificate.Subject}, client certificates: {web.Tls.ClientCertificates}{(web.Tls.VerifyClients ? ", verified" : string.Empty)})",
            web.BasicAuthUsers.Count == 0 ? "off" : $"on ({web.BasicAuthUsers.Count} user(s))");
        if (web.BasicAuthUsers.Count == 0)
        {
            return;
        }

        var gate = new BasicAuthGate(web.BasicAuthUsers);
        app.Use(async (context, next) =>
        {
            if (context.Request.Path.Equals("/health", StringComparison.Ordinal) || gate.Allows(context.Request.Headers.Authorization))
            {
                await next(context).ConfigureAwait(false);
                return;
            }

            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = "Basic realm=\"gputel\", charset=\"UTF-8\"";
        });
    }

    private static bool ChainsTo(X509Certificate2 certificate, X509Certificate2Collection roots)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2")); // client authentication
        return chain.Build(certificate);
    }

    /// <summary>
    /// Checks <c>Authorization: Basic</c> headers. bcrypt is slow on purpose (tens of ms), and
    /// Prometheus sends the same credentials every scrape, so a password that verified once is
    /// remembered per user as a SHA-256 digest and compared in constant time.
    /// </summary>
    private sealed class BasicAuthGate(IReadOnlyDictionary<string, string> users)
    {
        // Verified against when the user is unknown, so the answer takes as long as for a known one.
        private static readonly string DummyHash = BCrypt.Net.BCrypt.HashPassword("gputel", 10);
        private readonly ConcurrentDictionary<string, byte[]> _verified = new(StringComparer.Ordinal);

        public bool Allows(string? header)
        {
            if (header is null || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }

            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
            }
            catch (FormatException)
            {
                return false;
            }

            int colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                return false;
            }

            string user = decoded[..colon], password = decoded[(colon + 1)..];
            byte[] digest = SHA256.HashData(Encoding.UTF8.GetBytes(password));
            if (_verified.TryGetValue(user, out byte[]? known) && CryptographicOperations.FixedTimeEquals(known, digest))
            {
                return true;
            }

            bool ok;
            if (users.TryGetValue(user, out string? hash))
            {
                ok = Verify(password, hash);
            }
            else
            {
                _ = Verify(password, DummyHash);
                ok = false;
            }

            if (ok)
            {
                _verified[user] = digest;
            }

            return ok;
        }

        private static bool Verify(string password, string hash)
        {
            try
            {
                return BCrypt.Net.BCrypt.Verify(password, hash);
            }
            catch (BCrypt.Net.SaltParseException)
            {
                return false; // the loader checked the format; never let a bad hash become a 500
            }
        }
    }
}
