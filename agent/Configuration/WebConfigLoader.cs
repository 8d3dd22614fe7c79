using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using YamlDotNet.RepresentationModel;

namespace Gputel.Agent.Configuration;

/// <summary>
/// Reads a web config file (Prometheus exporter toolkit format). Keys it does not know are errors,
/// not ignored, so a setting meant to protect the endpoint never silently does nothing. Relative
/// file paths are relative to the web config file, as in the exporter toolkit. Every problem is a
/// <see cref="SettingsException"/> naming the file and the key; no secret is ever put in a message.
/// </summary>
internal static partial class WebConfigLoader
{
    private static readonly string[] TopKeys = ["tls_server_config", "basic_auth_users"];
    private static readonly string[] TlsKeys = ["cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version"];

    public static WebConfig Load(string path, string source)
    {
        string where = $"web config file {path} (from {source})";
        YamlMappingNode root = ReadMapping(path, where);
        string baseDirectory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        TlsServerConfig? tls = null;
        var users = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach ((YamlNode keyNode, YamlNode value) in root.Children)
        {
            string key = Scalar(keyNode) ?? string.Empty;
            switch (key)
            {
                case "tls_server_config":
                    tls = value is YamlMappingNode tlsNode ? ReadTls(tlsNode, baseDirectory, where)
                        : value is YamlScalarNode { Value: null or "" } ? null
                        : throw Bad(where, keyNode, "'tls_server_config' must be a mapping (cert_file, key_file, ...)");
                    break;
                case "basic_auth_users":
                    ReadUsers(value, users, where);
                    break;
                default:
                    throw Bad(where, keyNode, $"unknown key '{key}'; known: {string.Join(", ", TopKeys)}");
            }
        }

        return new WebConfig(path, tls, users);
    }

    private static YamlMappingNode ReadMapping(string path, string where)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SettingsException($"cannot read {where}: {e.Message}");
        }

        YamlStream yaml = YamlText.Load(text, where);

        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return new YamlMappingNode();
        }

        return yaml.Documents[0].RootNode as YamlMappingNode
            ?? throw new SettingsException($"{where} must be a mapping with tls_server_config and/or basic_auth_users");
    }

    private static TlsServerConfig ReadTls(YamlMappingNode node, string baseDirectory, string where)
    {
        var values = new Dictionary<string, (string Value, YamlNode Node)>(StringComparer.Ordinal);
        foreach ((YamlNode keyNode, YamlNode valueNode) in node.Children)
        {
            string key = Scalar(keyNode) ?? string.Empty;
            if (!TlsKeys.Contains(key))
            {
                throw Bad(where, keyNode, $"unknown key 'tls_server_config.{key}'; gputel supports {string.Join(", ", TlsKeys)}");
            }

            values[key] = (Scalar(valueNode) ?? throw Bad(where, valueNode, $"'tls_server_config.{key}' must be a single value"), valueNode);
        }

        string certFile = RequiredPath(values, "cert_file", baseDirectory, where, node);
        string keyFile = RequiredPath(values, "key_file", baseDirectory, where, node);
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(certFile, keyFile);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            // The message of a key parse error does not contain the key.
            throw new SettingsException($"{where}: cannot load the certificate {certFile} with key {keyFile}: {e.Message}");
        }

        if (!certificate.HasPrivateKey)
        {
            throw new SettingsException($"{where}: the key in {keyFile} does not belong to the certificate in {certFile}");
        }

        X509Certificate2Collection? cas = null;
        if (values.TryGetValue("client_ca_file", out var ca) && ca.Value.Length > 0)
        {
            string caFile = Resolve(ca.Value, baseDirectory);
            cas = [];
            try
            {
                cas.ImportFromPemFile(caFile);
            }
            catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
            {
                throw new SettingsException($"{where}: cannot load client_ca_file {caFile}: {e.Message}");
            }

            if (cas.Count == 0)
            {
                throw new SettingsException($"{where}: client_ca_file {caFile} holds no PEM certificate");
            }
        }

        // The exporter toolkit's default: verify clients when a CA is given, else ask for nothing.
        string authType = values.TryGetValue("client_auth_type", out var auth) && auth.Value.Length > 0
            ? auth.Value
            : cas is null ? "NoClientCert" : "RequireAndVerifyClientCert";
        (ClientCertificateMode mode, bool verify) = authType switch
        {
            "NoClientCert" => (ClientCertificateMode.NoCertificate, false),
            "RequestClientCert" => (ClientCertificateMode.AllowCertificate, false),
            "RequireAnyClientCert" => (ClientCertificateMode.RequireCertificate, false),
            "VerifyClientCertIfGiven" => (ClientCertificateMode.AllowCertificate, true),
            "RequireAndVerifyClientCert" => (ClientCertificateMode.RequireCertificate, true),
            _ => throw Bad(where, auth.Node, $"invalid client_auth_type '{authType}'; expected NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"),
        };
        if (verify && cas is null)
        {
            throw Bad(where, auth.Node, $"client_auth_type {authType} needs client_ca_file");
        }

        SslProtocols min = Version(values, "min_version", SslProtocols.Tls12, where);
        SslProtocols max = Version(values, "max_version", SslProtocols.Tls13, where);
        if (max < min)
        {
            throw Bad(where, values["max_version"].Node, "max_version is lower than min_version");
        }

        SslProtocols protocols = (min <= SslProtocols.Tls12 && max >= SslProtocols.Tls12 ? SslProtocols.Tls12 : SslProtocols.None)
            | (max >= SslProtocols.Tls13 ? SslProtocols.Tls13 : SslProtocols.None);
        return new TlsServerConfig(certificate, mode, verify, cas, protocols);
    }

    private static SslProtocols Version(Dictionary<string, (string Value, YamlNode Node)> values, string key, SslProtocols fallback, string where)
    {
        if (!values.TryGetValue(key, out var v) || v.Value.Length == 0)
        {
            return fallback;
        }

        return v.Value switch
        {
            "TLS12" => SslProtocols.Tls12,
            "TLS13" => SslProtocols.Tls13,
            "TLS10" or "TLS11" => throw Bad(where, v.Node, $"{key} {v.Value} is not supported: TLS 1.0 and 1.1 are obsolete; use TLS12 or TLS13"),
            _ => throw Bad(where, v.Node, $"invalid {key} '{v.Value}'; expected TLS12 or TLS13"),
        };
    }

    private static void ReadUsers(YamlNode node, Dictionary<string, string> users, string where)
    {
        if (node is YamlScalarNode { Value: null or "" })
        {
            return;
        }

        if (node is not YamlMappingNode mapping)
        {
            throw Bad(where, node, "'basic_auth_users' must be a mapping of user name to bcrypt hash");
        }

        foreach ((YamlNode userNode, YamlNode hashNode) in mapping.Children)
        {
            string? user = Scalar(userNode);
            if (string.IsNullOrEmpty(user) || user.Contains(':', StringComparison.Ordinal))
            {
                throw Bad(where, userNode, "a basic_auth_users name must be a non-empty string without ':'");
            }

            // The hash is not a secret in the sense a password is, but it is still not echoed back.
            string? hash = Scalar(hashNode);
            if (hash is null || !BcryptHash().IsMatch(hash))
            {
                throw Bad(where, hashNode, $"the password of user '{user}' is not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-31, 53 more characters); create one with e.g. 'htpasswd -nBC 10 \"\" | tr -d :'");
            }

            if (!users.TryAdd(user, hash))
            {
                throw Bad(where, userNode, $"user '{user}' is listed twice");
            }
        }
    }

    private static string RequiredPath(Dictionary<string, (string Value, YamlNode Node)> values, string key, string baseDirectory, string where, YamlNode section)
    {
        if (!values.TryGetValue(key, out var v) || v.Value.Length == 0)
        {
            throw Bad(where, section, $"tls_server_config needs {key}");
        }

        string path = Resolve(v.Value, baseDirectory);
        return File.Exists(path) ? path : throw Bad(where, v.Node, $"{key} {path}: no such file");
    }

    private static string Resolve(string path, string baseDirectory) =>
        System.IO.Path.IsPathRooted(path) ? path : System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDirectory, path));

    private static string? Scalar(YamlNode node) => (node as YamlScalarNode)?.Value;

    private static SettingsException Bad(string where, YamlNode node, string why) =>
        new($"{where}, line {node.Start.Line}: {why}");

    [GeneratedRegex(@"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")]
    private static partial Regex BcryptHash();
}
