using MeasureApp.Acquisition.Live;
using MeasureApp.Identity;
using MeasureApp.Live;
using MeasureApp.Relay;
using MeasureApp.Tests.Acquisition;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;
using static MeasureApp.Tests.Acquisition.EngineHarness;

namespace MeasureApp.Tests.Relay;

public sealed class RelayWithoutRedisTests
{
    [Fact]
    public async Task WithRedisAwayTheRelayLogsOnceListsNothingRemoteAndLocalChartsGoOn()
    {
        // Nothing listens on port 1: the multiplexer stays disconnected, as during an outage.
        var config = ConfigurationOptions.Parse("127.0.0.1:1");
        config.AbortOnConnectFail = false;
        config.ConnectTimeout = 200;
        await using var away = await ConnectionMultiplexer.ConnectAsync(config);
        await using var h = await EngineHarness.StartNewAsync();
        await using var db = await TestDatabase.CreateAsync();
        var options = Microsoft.Extensions.Options.Options.Create(new RelayOptions { Prefix = $"test:relay:{Guid.NewGuid():N}:" });
        var relayTime = new FakeTimeProvider();
        // Both relay sides report to the instance's one reachability tracker, which logs the outage once.
        var outageLog = new CountingLogger<MeasureApp.Coordination.RedisReachability>();
        var reachability = new MeasureApp.Coordination.RedisReachability(away, relayTime, outageLog);
        using var host = new LiveRelayHost(away, h.Hub, h.Engine, options, relayTime, NullLogger<LiveRelayHost>.Instance, reachability);
        using var client = new LiveRelayClient(away, db, h.Engine, options, relayTime, NullLogger<LiveRelayClient>.Instance, reachability);
        await host.StartAsync(CancellationToken.None);
        // A row of a measurement some other instance runs: without Redis it can be neither listed nor relayed.
        var elsewhere = KnownSignal.Info(Guid.NewGuid(), 1, ownerId: Alice.UserId);
        await db.SaveAsync(elsewhere);
        var m = await h.StartMeasurementAsync(Alice, Request());
        await using var tab = new UserSession(h.Engine, h.Hub, null!, new CurrentUser(new LoggedIn(Alice)), h.Time, NullLogger<UserSession>.Instance, relay: client);

        var listed = await tab.GetRunningAsync();
        Assert.Equal([m.Id], listed.Select(r => r.Id));
        Assert.Null(await tab.AttachAsync(elsewhere.Id, 200, _ => Task.CompletedTask, _ => { }));
        var rendered = 0;
        using var chart = await tab.AttachAsync(m.Id, 200, frame =>
        {
            Interlocked.Increment(ref rendered);
            return Task.CompletedTask;
        }, _ => { });
        Assert.NotNull(chart);
        await Eventually.TrueAsync(() => Volatile.Read(ref rendered) > 10, "the local chart keeps drawing",
            eachRound: () =>
            {
                h.Time.Advance(TimeSpan.FromMilliseconds(20));
                relayTime.Advance(TimeSpan.FromMilliseconds(200));
            });

        Assert.Equal(1, outageLog.Warnings);
        Assert.False(reachability.IsReachable);
        await host.StopAsync(CancellationToken.None);
    }
}
