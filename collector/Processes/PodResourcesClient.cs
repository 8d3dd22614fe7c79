using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;

namespace Gputel.Collector.Processes;

/// <summary>
/// A minimal client of the kubelet's pod-resources API (<c>v1.PodResourcesLister/List</c>, gRPC over
/// the unix socket <c>/var/lib/kubelet/pod-resources/kubelet.sock</c>): which devices each container
/// of each pod on this node was given. gRPC is spoken directly (HTTP/2 without TLS, one framed
/// message each way), so the agent carries no gRPC or protobuf runtime for one call.
/// </summary>
public sealed class PodResourcesClient : IDisposable
{
    /// <summary>The gRPC method path of <c>List</c>.</summary>
    public const string ListPath = "/v1.PodResourcesLister/List";

    private static readonly MediaTypeHeaderValue GrpcContentType = new("application/grpc");
    private readonly HttpClient _http;

    /// <summary>Creates a client of the socket at <paramref name="socketPath"/>; nothing connects until <see cref="ListAsync"/>.</summary>
    public PodResourcesClient(string socketPath, TimeSpan timeout)
    {
        SocketPath = socketPath;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        _http = new HttpClient(handler) { Timeout = timeout };
    }

    /// <summary>The socket this client talks to.</summary>
    public string SocketPath { get; }

    /// <summary>
    /// Lists every device assignment on the node. Throws <see cref="HttpRequestException"/> when the
    /// kubelet cannot be reached or answers with a gRPC error, <see cref="InvalidDataException"/> for
    /// a reply it cannot read.
    /// </summary>
    public async Task<IReadOnlyList<PodDeviceAssignment>> ListAsync(CancellationToken cancellationToken = default)
    {
        // An empty ListPodResourcesRequest: the 5-byte gRPC frame header (not compressed, length 0).
        using var content = new ByteArrayContent(new byte[5]);
        content.Headers.ContentType = GrpcContentType;
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("http://localhost" + ListPath))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TryAddWithoutValidation("TE", "trailers");

        using HttpResponseMessage response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        byte[] body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new HttpRequestException($"kubelet pod-resources answered HTTP {(int)response.StatusCode}");
        }

        // A failed call may come as headers only (no body, status in the headers) or with trailers.
        string? status = Header(response.TrailingHeaders, "grpc-status") ?? Header(response.Headers, "grpc-status");
        if (status is not null && status != "0")
        {
            string message = Header(response.TrailingHeaders, "grpc-message") ?? Header(response.Headers, "grpc-message") ?? string.Empty;
            throw new HttpRequestException($"kubelet pod-resources List failed: gRPC status {status} {Uri.UnescapeDataString(message)}".TrimEnd());
        }

        return Decode(Unframe(body));
    }

    /// <summary>Decodes a <c>ListPodResourcesResponse</c> message.</summary>
    public static IReadOnlyList<PodDeviceAssignment> Decode(ReadOnlySpan<byte> message)
    {
        var result = new List<PodDeviceAssignment>();
        var reader = new ProtobufReader(message);
        while (reader.TryReadTag(out int field, out int wire))
        {
            if (field == 1 && wire == ProtobufReader.LengthDelimited)
            {
                DecodePod(reader.ReadBytes(), result);
            }
            else
            {
                reader.Skip(wire);
            }
        }

        return result;
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private static ReadOnlySpan<byte> Unframe(byte[] body)
    {
        if (body.Length < 5)
        {
            throw new InvalidDataException("kubelet pod-resources sent no gRPC message");
        }

        if (body[0] != 0)
        {
            throw new InvalidDataException("kubelet pod-resources sent a compressed message, which was not asked for");
        }

        uint length = BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(1, 4));
        return length <= (uint)(body.Length - 5)
            ? body.AsSpan(5, (int)length)
            : throw new InvalidDataException("kubelet pod-resources message is shorter than its frame says");
    }

    // PodResources: name = 1, namespace = 2, containers = 3.
    private static void DecodePod(ReadOnlySpan<byte> message, List<PodDeviceAssignment> result)
    {
        string name = string.Empty, ns = string.Empty;
        var containers = new List<byte[]>();
        var reader = new ProtobufReader(message);
        while (reader.TryReadTag(out int field, out int wire))
        {
            switch (field, wire)
            {
                case (1, ProtobufReader.LengthDelimited): name = reader.ReadString(); break;
                case (2, ProtobufReader.LengthDelimited): ns = reader.ReadString(); break;
                case (3, ProtobufReader.LengthDelimited): containers.Add(reader.ReadBytes().ToArray()); break;
                default: reader.Skip(wire); break;
            }
        }

        // Containers may come before the pod's name on the wire, so they are decoded once it is known.
        foreach (byte[] container in containers)
        {
            DecodeContainer(container, name, ns, result);
        }
    }

    // ContainerResources: name = 1, devices = 2 (ContainerDevices: resource_name = 1, device_ids = 2).
    private static void DecodeContainer(ReadOnlySpan<byte> message, string pod, string ns, List<PodDeviceAssignment> result)
    {
        string name = string.Empty;
        var devices = new List<(string Resource, List<string> Ids)>();
        var reader = new ProtobufReader(message);
        while (reader.TryReadTag(out int field, out int wire))
        {
            switch (field, wire)
            {
                case (1, ProtobufReader.LengthDelimited): name = reader.ReadString(); break;
                case (2, ProtobufReader.LengthDelimited): devices.Add(DecodeDevices(reader.ReadBytes())); break;
                default: reader.Skip(wire); break;
            }
        }

        foreach ((string resource, List<string> ids) in devices)
        {
            result.AddRange(ids.Select(id => new PodDeviceAssignment(pod, ns, name, resource, id)));
        }
    }

    private static (string, List<string>) DecodeDevices(ReadOnlySpan<byte> message)
    {
        string resource = string.Empty;
        var ids = new List<string>();
        var reader = new ProtobufReader(message);
        while (reader.TryReadTag(out int field, out int wire))
        {
            switch (field, wire)
            {
                case (1, ProtobufReader.LengthDelimited): resource = reader.ReadString(); break;
                case (2, ProtobufReader.LengthDelimited): ids.Add(reader.ReadString()); break;
                default: reader.Skip(wire); break;
            }
        }

        return (resource, ids);
    }

    private static string? Header(HttpHeaders headers, string name) =>
        headers.TryGetValues(name, out IEnumerable<string>? values) ? values.FirstOrDefault() : null;
}
