using Gputel.Bench.BareServer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

// A bare prometheus-net server: the series of a saved exposition (names, help, types, labels and
// values), set once into a registry and served by prometheus-net's own /metrics endpoint on
// Kestrel. What a scrape costs here is prometheus-net's serialization and HTTP, nothing else.
//   Gputel.Bench.BareServer EXPOSITION_FILE [HOST:PORT]   (default 127.0.0.1:0: any free port)
if (args.Length is < 1 or > 2)
{
    Console.Error.WriteLine("usage: Gputel.Bench.BareServer EXPOSITION_FILE [HOST:PORT]");
    return 2;
}

CollectorRegistry registry;
try
{
    registry = StaticSeries.Load(File.ReadAllText(args[0]), out int series);
    Console.WriteLine($"{series} series from {args[0]}");
}
catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"bare-server: {e.Message}");
    return 2;
}

WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.UseUrls($"http://{(args.Length > 1 ? args[1] : "127.0.0.1:0")}");
await using WebApplication app = builder.Build();
app.MapMetrics("/metrics", registry);
await app.StartAsync().ConfigureAwait(false);
string addresses = string.Join(", ", app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []);
Console.WriteLine($"listening on {addresses}");
await app.WaitForShutdownAsync().ConfigureAwait(false);
return 0;
