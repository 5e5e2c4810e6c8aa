using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Network;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using static MeasureApp.Tests.Acquisition.Network.NetworkTestKit;

namespace MeasureApp.Tests.Acquisition.Network;

/// <summary>The Network driver inside the measurement engine and the host's registrations.</summary>
public sealed class NetworkDriverTests
{
    private static readonly DeviceOptions Remote = new() { Id = "remote", Driver = NetworkDriver.DriverKind, TcpPort = 0, UdpPort = -1 };

    [Fact]
    public async Task EngineStoresWhatTheOwnersCollectorSendsAndRefusesItAfterStop()
    {
        var tokens = new InMemoryCollectorTokens();
        await using var driver = new NetworkDriver(tokens, TimeProvider.System,
            Options.Create(new AcquisitionOptions { Devices = [Remote] }), NullLoggerFactory.Instance);
        var observed = new ObservedDriver(driver);
        await using var harness = await EngineHarness.StartNewAsync([Remote], [observed]);
        var m = await harness.StartMeasurementAsync(EngineHarness.Alice,
            EngineHarness.Request(channels: 2, rate: 1000) with { DeviceId = Remote.Id });
        var aliceToken = await tokens.IssueAsync(EngineHarness.Alice.UserId, default);
        var bobToken = await tokens.IssueAsync(EngineHarness.Bob.UserId, default);
        var endPoint = driver.ListenerFor(Remote).TcpEndPoint;
        await using var alice = await TestCollector.ConnectAsync(endPoint);
        await using var bob = await TestCollector.ConnectAsync(endPoint);
        await alice.HelloAsync(aliceToken.Secret);
        await bob.HelloAsync(bobToken.Secret);

        for (ulong s = 0; s < 10; s++)
        {
            await alice.SendAsync(DataFrame(m, s, samples: 50));
        }
        await bob.SendAsync(DataFrame(m, 10, samples: 50));
        var bobReply = await bob.ReadAsync();
        await observed.WaitForSamplesAsync(m.Id, 500);
        await harness.Engine.StopAsync(m.Id, EngineHarness.Alice, default);
        await alice.SendAsync(DataFrame(m, 10, samples: 50));
        var afterStop = await alice.ReadAsync();

        Assert.Equal(NetworkErrorCode.NotFound, bobReply?.Code);
        Assert.Equal(NetworkErrorCode.NotFound, afterStop?.Code);
        var chunks = harness.Store.Chunks(m.Id);
        Assert.Equal(500, chunks.Sum(c => c.SampleCount));
        Assert.Equal(500, harness.Store.Measurement(m.Id)?.SampleCount);
        var channel0 = chunks.SelectMany(c => c.Channel(0).ToArray()).ToArray();
        var expected = Enumerable.Range(0, 10).SelectMany(s => Values((ulong)s, 2, 50).Take(50)).ToArray();
        Assert.Equal(expected, channel0);
        Assert.Equal(T0(0), chunks[0].T0Ns);
    }

    [Fact]
    public async Task AddAcquisitionRegistersTheNetworkDriverThatOpensConfiguredDevicesAtStart()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Acquisition:Devices:0:Id"] = "sim",
            ["Acquisition:Devices:1:Id"] = "remote",
            ["Acquisition:Devices:1:Driver"] = "Network",
            ["Acquisition:Devices:1:TcpPort"] = "0",
            ["Acquisition:Devices:1:UdpPort"] = "0",
        });
        builder.AddAcquisition();
        using var host = builder.Build();
        var driver = host.Services.GetRequiredService<NetworkDriver>();
        var device = host.Services.GetRequiredService<IOptions<AcquisitionOptions>>().Value.Devices[1];

        await driver.StartAsync(default);
        var listener = driver.ListenerFor(device);
        await using var collector = await TestCollector.ConnectAsync(listener.TcpEndPoint);
        var issued = await host.Services.GetRequiredService<ICollectorTokens>().IssueAsync("alice", default);
        var welcome = await collector.HelloAsync(issued.Secret);
        var (tcpPort, udpPort) = (listener.TcpEndPoint.Port, listener.UdpEndPoint!.Port);
        await driver.StopAsync(default);

        Assert.Contains(driver, host.Services.GetServices<IDeviceDriver>());
        Assert.IsType<InMemoryCollectorTokens>(host.Services.GetRequiredService<ICollectorTokens>());
        Assert.NotEqual(0, tcpPort);
        Assert.NotEqual(0, udpPort);
        Assert.Equal(FrameType.Welcome, welcome?.Type);
    }

    [Fact]
    public async Task TheStartUpSyncOpensDevicesAddedSinceKeepsOpenListenersAndClosesRemovedOnes()
    {
        await using var driver = new NetworkDriver(new InMemoryCollectorTokens(), TimeProvider.System,
            Options.Create(new AcquisitionOptions { Devices = [Remote] }), NullLoggerFactory.Instance);
        await driver.StartAsync(default);
        var seeded = Assert.Single(driver.Listeners);
        var added = new DeviceOptions { Id = "added", Driver = NetworkDriver.DriverKind, TcpPort = 0, UdpPort = -1 };

        // The catalog's copy of the seed may differ (this instance's configuration can move its ports).
        var errors = await driver.SyncAsync([new DeviceOptions { Id = "remote", Driver = NetworkDriver.DriverKind, TcpPort = 0, UdpPort = 0 }, added]);

        Assert.Empty(errors);
        Assert.Same(seeded, Assert.Single(driver.Listeners, l => l.DeviceId == "remote"));
        Assert.Null(seeded.UdpEndPoint);
        Assert.Single(driver.Listeners, l => l.DeviceId == "added");

        Assert.Empty(await driver.SyncAsync([added]));
        Assert.Equal(["added"], driver.Listeners.Select(l => l.DeviceId));
    }

    [Fact]
    public async Task BindAddressThatIsNotAnAddressFailsNamingTheKey()
    {
        var driver = new NetworkDriver(new InMemoryCollectorTokens(), TimeProvider.System,
            Options.Create(new AcquisitionOptions { Devices = [new DeviceOptions { Id = "remote", Driver = "Network", BindAddress = "lab-pc" }] }),
            NullLoggerFactory.Instance);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => driver.StartAsync(default));

        Assert.Contains("BindAddress", error.Message, StringComparison.Ordinal);
    }
}

public sealed class CollectorTokensTests
{
    [Fact]
    public async Task IssuedTokenResolvesToItsUserUntilRevoked()
    {
        var tokens = new InMemoryCollectorTokens();
        var alice = await tokens.IssueAsync("alice", default);
        var bob = await tokens.IssueAsync("bob", default);

        Assert.Equal(32, alice.Secret.Length);
        Assert.Equal(64, alice.Hex.Length);
        Assert.Equal("alice", await tokens.ResolveAsync(alice.Secret, default));
        Assert.Equal("bob", await tokens.ResolveAsync(bob.Secret, default));
        Assert.False(await tokens.RevokeAsync("bob", alice.Id, default));
        Assert.True(await tokens.RevokeAsync("alice", alice.Id, default));
        Assert.Null(await tokens.ResolveAsync(alice.Secret, default));
        Assert.Equal("bob", await tokens.ResolveAsync(bob.Secret, default));
    }

    [Fact]
    public async Task TokensThatWereNeverIssuedOrHaveTheWrongLengthResolveToNobody()
    {
        var tokens = new InMemoryCollectorTokens();
        var alice = await tokens.IssueAsync("alice", default);
        var flipped = alice.Secret.ToArray();
        flipped[31] ^= 1;

        Assert.Null(await tokens.ResolveAsync(flipped, default));
        Assert.Null(await tokens.ResolveAsync(alice.Secret.AsMemory(0, 31), default));
        Assert.Null(await tokens.ResolveAsync(new byte[32], default));
        Assert.NotEqual(alice.Secret, CollectorTokenSecrets.Hash(alice.Secret));
    }
}
