using System.Net;
using System.Net.Sockets;
using MeasureApp.Acquisition.Devices.Network;
using MeasureApp.Tests.Acquisition.Network;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static MeasureApp.Tests.Collectors.CollectorTokenApiTests;

namespace MeasureApp.Tests.Collectors;

/// <summary>
/// The shipped app's Network device (net-1 of appsettings.json) with tokens from the database: another
/// user's token, a revoked token and a wrong token feed nothing into a measurement and learn nothing
/// about it, over TCP and UDP; the owner's token feeds it (so the test can tell).
/// </summary>
public abstract class CollectorFeedTests(DatabaseProvider provider) : IDisposable
{
    private const int Samples = 50;
    // The feed counters are read from /metrics by an operator: open the endpoint explicitly (admins-only by default).
    private readonly AppFactory _factory = new(provider, new Dictionary<string, string?> { ["Metrics:RequireAdmin"] = "false" });

    [Fact]
    public async Task AnotherUsersRevokedAndWrongTokensFeedNothingAndSeeNothingOverTcpAndUdp()
    {
        var alice = await OperatorAsync();
        var bob = await OperatorAsync();
        var listener = _factory.Services.GetRequiredService<NetworkDriver>().Listeners.Single(l => l.DeviceId == "net-1");
        var measurement = (await ReadAsync(await alice.PostAsync("/api/measurements",
            Json("""{"device":"net-1","channels":2,"sampleRate":1000,"name":"fed remotely"}""")))).GetProperty("id").GetGuid();
        var aliceToken = await TokenAsync(alice, "alice");
        var bobToken = await TokenAsync(bob, "bob");
        var revoked = await TokenAsync(alice, "old");
        var revokedId = (await ReadAsync(await alice.GetAsync("/api/collector-tokens"))).EnumerateArray()
            .Single(t => t.GetProperty("name").GetString() == "old").GetProperty("id").GetGuid();
        Assert.Equal(HttpStatusCode.NoContent, (await alice.DeleteAsync($"/api/collector-tokens/{revokedId}")).StatusCode);
        var wrong = new byte[32];
        Random.Shared.NextBytes(wrong);

        // Bob's valid token: its connection is accepted, but alice's measurement answers exactly like one that does not exist.
        await using (var asBob = await TestCollector.ConnectAsync(listener.TcpEndPoint))
        {
            Assert.Equal(FrameType.Welcome, (await asBob.HelloAsync(bobToken))?.Type);
            await asBob.SendAsync(Data(measurement, 0, restart: true));
            var unknown = Guid.NewGuid();
            await asBob.SendAsync(Data(unknown, 0, restart: true));
            var toAlices = await asBob.ReadAsync();
            var toUnknown = await asBob.ReadAsync();
            Assert.Equal(new ServerFrame(FrameType.Error, NetworkErrorCode.NotFound, measurement, 0), toAlices);
            Assert.Equal(new ServerFrame(FrameType.Error, NetworkErrorCode.NotFound, unknown, 0), toUnknown);
        }
        foreach (var token in new[] { revoked, wrong })
        {
            await using var refused = await TestCollector.ConnectAsync(listener.TcpEndPoint);
            Assert.Equal(NetworkErrorCode.AuthFailed, (await refused.HelloAsync(token))?.Code);
            Assert.Empty(await refused.ReadToEndAsync());
        }
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var before = listener.Counters.DatagramsReceived;
        foreach (var token in new[] { bobToken, revoked, wrong })
        {
            await udp.SendToAsync(Data(measurement, 1, restart: true, token), listener.UdpEndPoint!);
        }
        await NetworkTestKit.UntilAsync(() => listener.Counters.DatagramsReceived == before + 3, "the three datagrams arrived");
        await NetworkTestKit.UntilAsync(() => listener.Counters.FaultsOf(NetworkFaultKinds.Auth) >= 4, "the bad UDP tokens were refused");

        // Alice's own token feeds it over TCP and UDP: the count is exactly hers, nothing from the others.
        await using (var asAlice = await TestCollector.ConnectAsync(listener.TcpEndPoint))
        {
            Assert.Equal(FrameType.Welcome, (await asAlice.HelloAsync(aliceToken))?.Type);
            await asAlice.SendAsync(Data(measurement, 0, restart: true));
            await asAlice.SendAsync(NetworkTestKit.Bye());
            Assert.Equal([FrameType.Bye], (await asAlice.ReadToEndAsync()).Select(f => f.Type));
        }
        await udp.SendToAsync(Data(measurement, 1, restart: false, aliceToken), listener.UdpEndPoint!);
        await NetworkTestKit.UntilAsync(() => listener.Counters.BlocksDelivered == 2, "alice's two frames were delivered");
        var stopped = await ReadAsync(await alice.PostAsync($"/api/measurements/{measurement}/stop", Json("{}")));

        Assert.Equal(2L * Samples, stopped.GetProperty("sampleCount").GetInt64());
        Assert.Equal(2, listener.Counters.BlocksDelivered);
        Assert.Equal(4, listener.Counters.AuthenticationFailures);
        var metrics = await alice.GetStringAsync("/metrics");
        Assert.Contains("measureapp_collector_auth_failures_total{device=\"net-1\"} 4", metrics, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }

    private static byte[] Data(Guid measurement, ulong sequence, bool restart, byte[]? token = null)
    {
        var frame = new byte[FrameEncoder.DataFrameLength(2, Samples, token is not null)];
        FrameEncoder.WriteData(frame, new DataFrameHeader(measurement, sequence, NetworkTestKit.T0(sequence), 1000, 2, Samples, restart),
            NetworkTestKit.Values(sequence, 2, Samples), token);
        return frame;
    }

    private static async Task<byte[]> TokenAsync(HttpClient client, string name)
    {
        var created = await ReadAsync(await client.PostAsync("/api/collector-tokens", Json($$"""{"name":"{{name}}"}""")));
        return Convert.FromHexString(created.GetProperty("token").GetString()!);
    }

    private async Task<HttpClient> OperatorAsync() =>
        (await HttpLogin.LoggedInOperatorAsync(_factory)).Client;
}

public sealed class SqliteCollectorFeedTests() : CollectorFeedTests(DatabaseProvider.Sqlite);

public sealed class PostgresCollectorFeedTests() : CollectorFeedTests(DatabaseProvider.Postgres);
