using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Gputel.Tests.Support;
using static Gputel.Tests.Support.Scripts;

namespace Gputel.Agent.Tests;

/// <summary>
/// <c>--web-config</c>: TLS from PEM files, basic auth with bcrypt hashes, GET only, and a real
/// Prometheus scraping through both. Certificates are made by the test.
/// </summary>
public sealed class SecurityTests : IDisposable
{
    private const string Password = "correct horse battery staple";
    private readonly TempDirectory _dir = new();

    [Fact]
    public async Task Tls_and_basic_auth_guard_metrics_and_health_stays_open()
    {
        (string cert, string key, X509Certificate2 certificate) = SelfSigned("server");
        string hash = BCrypt.Net.BCrypt.HashPassword(Password, 4);
        string web = _dir.File("web.yml", $"tls_server_config:\n  cert_file: {Path.GetFileName(cert)}\n  key_file: {Path.GetFileName(key)}\nbasic_auth_users:\n  prometheus: {hash}\n");
        using AgentProcess agent = StartAgent(web);
        Uri uri = agent.WaitUntilListening();
        Assert.Equal("https", uri.Scheme);

        using HttpClient http = TrustingOnly(certificate);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(http, uri, "metrics", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(http, uri, "metrics", ("prometheus", "wrong"))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(http, uri, "metrics", ("nobody", Password))).StatusCode);
        using HttpResponseMessage denied = await Get(http, uri, "metrics", null);
        Assert.Contains("Basic", denied.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);

        using HttpResponseMessage ok = await Get(http, uri, "metrics", ("prometheus", Password));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Contains("gpu_up{", await ok.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        // Twice: the second answer comes from the verified-password cache and must agree.
        Assert.Equal(HttpStatusCode.OK, (await Get(http, uri, "metrics", ("prometheus", Password))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(http, uri, "metrics", ("prometheus", Password + "!"))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(http, uri, "", null)).StatusCode);

        // Liveness probes need no credentials.
        Assert.Equal(HttpStatusCode.OK, (await Get(http, uri, "health", null)).StatusCode);

        // Nothing changes state: other methods are refused.
        using var post = new HttpRequestMessage(HttpMethod.Post, new Uri(uri, "metrics")) { Content = new StringContent("x") };
        post.Headers.Authorization = Basic("prometheus", Password);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await http.SendAsync(post)).StatusCode);
        using var delete = new HttpRequestMessage(HttpMethod.Delete, new Uri(uri, "health"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await http.SendAsync(delete)).StatusCode);

        // Plain HTTP on the TLS port gets no metrics.
        using var plain = new HttpClient();
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetAsync(new UriBuilder(uri) { Scheme = "http" }.Uri));

        // No secret reaches the log.
        Assert.DoesNotContain(Password, agent.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(hash, agent.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", agent.Output, StringComparison.Ordinal);
        Assert.Contains("basic auth on (1 user(s))", agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Prometheus_scrapes_through_tls_and_basic_auth()
    {
        (string cert, string key, _) = SelfSigned("server");
        string web = _dir.File("web.yml", $"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  min_version: TLS12\nbasic_auth_users:\n  prom: {BCrypt.Net.BCrypt.HashPassword(Password, 4)}\n");
        using AgentProcess agent = StartAgent(web);
        Uri uri = agent.WaitUntilListening();

        string Job(string name, string password) =>
            $"  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: {cert}\n    basic_auth:\n      username: prom\n      password: '{password}'\n"
            + $"    static_configs:\n      - targets: ['{uri.Authority}']\n";
        using PrometheusServer prometheus = PrometheusServer.StartWithScrapeConfigs(Job("secure", Password) + Job("wrong-password", "guess"));

        prometheus.WaitFor("gpu_up{job=\"secure\",gpu=\"0\"} == 1");
        Assert.Equal(1, prometheus.Query("up{job=\"secure\"}").Single().Value);
        Assert.Equal(10.0 * GiB, prometheus.Query("gpu_memory_used_bytes{job=\"secure\",gpu=\"0\"}").Single().Value);
        Wait.Until(() => prometheus.Query("up{job=\"wrong-password\"}").SingleOrDefault().Value == 0 && prometheus.Query("up{job=\"wrong-password\"}").Count == 1, "the wrong password to be refused");
        Assert.Empty(prometheus.Query("gpu_up{job=\"wrong-password\"}"));
    }

    [Fact]
    public async Task Client_certificates_are_required_and_verified_against_the_client_ca()
    {
        (string cert, string key, X509Certificate2 server) = SelfSigned("server");
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=gputel test client CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using X509Certificate2 ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllText(Path.Combine(_dir.Path, "client-ca.pem"), ca.ExportCertificatePem());
        string web = _dir.File("web.yml", $"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  client_ca_file: client-ca.pem\n");
        using AgentProcess agent = StartAgent(web);
        Uri uri = agent.WaitUntilListening();

        using HttpClient anonymous = TrustingOnly(server);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => anonymous.GetAsync(new Uri(uri, "metrics")));

        using X509Certificate2 stranger = ClientCertificate(null);
        using HttpClient strangerClient = TrustingOnly(server, stranger);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => strangerClient.GetAsync(new Uri(uri, "metrics")));

        using X509Certificate2 member = ClientCertificate(ca);
        using HttpClient memberClient = TrustingOnly(server, member);
        Assert.Equal(HttpStatusCode.OK, (await memberClient.GetAsync(new Uri(uri, "metrics"))).StatusCode);
    }

    [Theory]
    [InlineData("tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.key\n", "cert_file")]
    [InlineData("tls_server_config:\n  key_file: server.key\n", "tls_server_config needs cert_file")]
    [InlineData("tls_server_config:\n  cert_file: server.pem\n  key_file: other.key\n", "cannot load the certificate")]
    [InlineData("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS10\n", "TLS 1.0 and 1.1 are obsolete")]
    [InlineData("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n", "needs client_ca_file")]
    [InlineData("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", "unknown key 'tls_server_config.cipher_suites'")]
    [InlineData("basic_auth_users:\n  alice: hunter2\n", "is not a bcrypt hash")]
    [InlineData("basic_auth_users: [alice]\n", "must be a mapping of user name to bcrypt hash")]
    [InlineData("tls_config:\n  cert_file: server.pem\n", "unknown key 'tls_config'")]
    [InlineData("tls_server_config: {cert_file: a\n", "not valid YAML")]
    public void A_bad_web_config_exits_2_with_a_clear_message(string yaml, string message)
    {
        SelfSigned("server");
        SelfSigned("other");
        string web = _dir.File("web.yml", yaml);

        (int exit, string output) = AgentProcess.Run(["agent", "--listen", "127.0.0.1:0", "--web-config", web]);

        Assert.True(exit == 2, output);
        Assert.Contains($"web config file {web} (from flag --web-config)", output, StringComparison.Ordinal);
        Assert.Contains(message, output, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_web_config_path_exits_2_with_a_clear_message()
    {
        (int exit, string output) = AgentProcess.Run(["agent", "--listen", "127.0.0.1:0", "--web-config", ""]);

        Assert.True(exit == 2, output);
        Assert.Contains("invalid web-config '' (from flag --web-config): expected the path of a web config file", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_web_config_can_come_from_the_environment_and_the_config_file()
    {
        string web = _dir.File("web.yml", "basic_auth_users:\n  alice: nope\n");
        (int exit, string output) = AgentProcess.Run(["agent", "--listen", "127.0.0.1:0"], new Dictionary<string, string> { ["GPUTEL_WEB_CONFIG"] = web });
        Assert.Equal(2, exit);
        Assert.Contains("(from environment variable GPUTEL_WEB_CONFIG)", output, StringComparison.Ordinal);

        string config = _dir.File("agent.yaml", $"web_config: {web}\n");
        (exit, output) = AgentProcess.Run(["agent", "--listen", "127.0.0.1:0", "--config", config]);
        Assert.Equal(2, exit);
        Assert.Contains($"(from config file {config})", output, StringComparison.Ordinal);
    }

    private AgentProcess StartAgent(string webConfig) =>
        AgentProcess.Start(
            ["agent", "--listen", "127.0.0.1:0", "--nvml-library", FakeDriver.LibraryPath, "--web-config", webConfig],
            FakeDriver.Environment(_dir.Path, Header() + Gpu(0)));

    /// <summary>A self-signed ECDSA server certificate for 127.0.0.1 and localhost, written as NAME.pem and NAME.key.</summary>
    private (string Cert, string Key, X509Certificate2 Certificate) SelfSigned(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=gputel test", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        string certPath = _dir.File($"{name}.pem", certificate.ExportCertificatePem());
        string keyPath = _dir.File($"{name}.key", key.ExportPkcs8PrivateKeyPem());
        return (certPath, keyPath, certificate);
    }

    /// <summary>A client certificate signed by <paramref name="ca"/>, or self-signed when it is null.</summary>
    private static X509Certificate2 ClientCertificate(X509Certificate2? ca)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=gputel test client", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        if (ca is null)
        {
            return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        }

        using X509Certificate2 signed = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddHours(12), [1, 2, 3, 4]);
        return signed.CopyWithPrivateKey(key);
    }

    /// <summary>An HTTPS client that trusts exactly <paramref name="server"/> and presents <paramref name="client"/> if given.</summary>
    private static HttpClient TrustingOnly(X509Certificate2 server, X509Certificate2? client = null)
    {
        var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, presented, _, _) => presented is not null && presented.RawData.AsSpan().SequenceEqual(server.RawData),
        };
        if (client is not null)
        {
            handler.ClientCertificateOptions = ClientCertificateOption.Manual;
            handler.ClientCertificates.Add(client);
        }

        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
    }

    private static async Task<HttpResponseMessage> Get(HttpClient http, Uri baseUri, string path, (string User, string Password)? credentials)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(baseUri, path));
        if (credentials is { } c)
        {
            request.Headers.Authorization = Basic(c.User, c.Password);
        }

        return await http.SendAsync(request);
    }

    private static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    public void Dispose() => _dir.Dispose();
}
