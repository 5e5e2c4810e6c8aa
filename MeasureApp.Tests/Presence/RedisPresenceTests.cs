using MeasureApp.Coordination;
using MeasureApp.Data;
using MeasureApp.Presence;
using MeasureApp.Tests.Coordination;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace MeasureApp.Tests.Presence;

/// <summary>Presence shared by two instances through Redis; degraded to this instance while Redis is down.</summary>
public abstract class RedisPresenceTests(DatabaseProvider provider) : IAsyncLifetime
{
    private readonly AppFactory _factory = new(provider);
    private readonly string _prefix = RedisKit.NewPrefix();
    private readonly List<IAsyncDisposable> _disposables = [];

    public Task InitializeAsync() => Task.CompletedTask;

    [Fact]
    public async Task TwoInstancesSharingOneRedisSeeTheSameActiveUsers()
    {
        var a = await InstanceAsync(TestEnvironment.RedisConnectionString, "a");
        var b = await InstanceAsync(TestEnvironment.RedisConnectionString, "b");
        a.Circuits.Register("c1", "u1", "alice").Page = "live";
        a.Circuits.Register("c2", "u2", "bob").Page = "history";
        b.Circuits.Register("c3", "u1", "alice").Page = "live";
        b.Circuits.Register("c4", "u3", "carol").Page = "live?x=1";

        await PublishAllAsync(a, b);
        var seenByA = a.Tracker.Now();
        var seenByB = b.Tracker.Now();

        foreach (var now in new[] { seenByA, seenByB })
        {
            Assert.False(now.Degraded);
            Assert.Null(now.DegradedReason);
            Assert.Equal(2, now.Instances);
            Assert.Equal(3, now.ActiveUsers);
            Assert.Equal(4, now.OpenTabs);
            Assert.Equal(2, now.SessionsPerUser["alice"]);
            Assert.Equal(2, now.UsersPerPage["/live"]);
        }

        b.Circuits.Unregister("c4");
        b.Circuits.Unregister("c3");
        await PublishAllAsync(a, b);
        Assert.Equal(2, a.Tracker.Now().ActiveUsers);
        Assert.Equal(2, b.Tracker.Now().ActiveUsers);
        Assert.Equal(2, a.Tracker.Now().OpenTabs);
    }

    [Fact]
    public async Task PresenceSaysItIsDegradedWhileRedisIsDownAndRecoversWhenItIsBack()
    {
        using var redis = await PrivateRedis.StartAsync();
        var a = await InstanceAsync(redis.ConnectionString, "a");
        var b = await InstanceAsync(redis.ConnectionString, "b");
        a.Circuits.Register("c1", "u1", "alice");
        b.Circuits.Register("c2", "u2", "bob");
        await PublishAllAsync(a, b);
        Assert.Equal(2, a.Tracker.Now().ActiveUsers);

        await redis.KillAsync();
        Assert.False(await a.Store.PublishAsync());

        var degraded = a.Tracker.Now();
        Assert.True(degraded.Degraded);
        Assert.Equal(RedisPresenceStore.UnreachableReason, degraded.DegradedReason);
        Assert.Equal(1, degraded.Instances);
        Assert.Equal(1, degraded.ActiveUsers);

        await redis.StartServerAsync();
        await Eventually.TrueAsync(async () =>
        {
            await a.Link.CheckAsync();
            await b.Link.CheckAsync();
            return a.Link.IsReachable && b.Link.IsReachable;
        }, "both instances see Redis again", TimeSpan.FromSeconds(60));
        await PublishAllAsync(a, b);
        var recovered = a.Tracker.Now();
        Assert.False(recovered.Degraded);
        Assert.Equal(2, recovered.ActiveUsers);
        Assert.Equal(2, b.Tracker.Now().ActiveUsers);
    }

    [Fact]
    public async Task OnlyOneInstanceStoresTheSnapshotOfASlotUnlessRedisIsDown()
    {
        // Both instances' clocks in the middle of one 10-s slot.
        var slotStart = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 10 * 10 + 10_000);
        var clock = new FakeTimeProvider(slotStart + TimeSpan.FromSeconds(5));
        var a = await InstanceAsync(TestEnvironment.RedisConnectionString, "a", clock);
        var b = await InstanceAsync(TestEnvironment.RedisConnectionString, "b", clock);

        Assert.True(await a.Tracker.SnapshotAsync(CancellationToken.None));
        Assert.False(await b.Tracker.SnapshotAsync(CancellationToken.None));
        Assert.Equal(1, await StoredAtAsync(clock.GetUtcNow()));

        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.True(await b.Tracker.SnapshotAsync(CancellationToken.None));
        Assert.False(await a.Tracker.SnapshotAsync(CancellationToken.None));

        // Redis unreachable: every instance stores its own.
        var c = await InstanceAsync($"127.0.0.1:{PrivateRedis.FreePort()},connectTimeout=500", "c", clock);
        var d = await InstanceAsync($"127.0.0.1:{PrivateRedis.FreePort()},connectTimeout=500", "d", clock);
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.True(await c.Tracker.SnapshotAsync(CancellationToken.None));
        Assert.True(await d.Tracker.SnapshotAsync(CancellationToken.None));
        Assert.True(c.Tracker.Now().Degraded);
        Assert.Equal(2, await StoredAtAsync(clock.GetUtcNow()));
    }

    public async Task DisposeAsync()
    {
        await using (var redis = await RedisKit.ConnectAsync(TestEnvironment.RedisConnectionString))
        {
            await foreach (var key in redis.GetServer(redis.GetEndPoints()[0]).KeysAsync(pattern: _prefix + "*"))
            {
                await redis.GetDatabase().KeyDeleteAsync(key);
            }
        }
        foreach (var disposable in _disposables)
        {
            await disposable.DisposeAsync();
        }
        await _factory.DisposeAsync();
    }

    private static async Task PublishAllAsync(Instance a, Instance b)
    {
        // Twice: the first round lets each see what the other wrote.
        for (var round = 0; round < 2; round++)
        {
            Assert.True(await a.Store.PublishAsync());
            Assert.True(await b.Store.PublishAsync());
        }
    }

    private async Task<int> StoredAtAsync(DateTimeOffset at)
    {
        await using var db = await _factory.Services.GetRequiredService<IDbContextFactory<AppDbContext>>().CreateDbContextAsync();
        // DateTimeOffset comparisons do not translate on SQLite.
        return (await db.Set<PresenceSnapshotRecord>().AsNoTracking().Select(s => s.At).ToListAsync()).Count(t => t == at);
    }

    private async Task<Instance> InstanceAsync(string configuration, string id, TimeProvider? trackerTime = null)
    {
        var redis = await RedisKit.ConnectAsync(configuration);
        _disposables.Add(redis);
        var link = await RedisKit.LinkAsync(redis, _prefix, id);
        var circuits = new CircuitRegistry(TimeProvider.System);
        var store = new RedisPresenceStore(link, circuits, TimeProvider.System, NullLogger<RedisPresenceStore>.Instance);
        var tracker = new PresenceTracker(circuits, _factory.Services.GetRequiredService<IDbContextFactory<AppDbContext>>(), trackerTime ?? TimeProvider.System, store);
        return new Instance(link, circuits, store, tracker);
    }

    private sealed record Instance(RedisLink Link, CircuitRegistry Circuits, RedisPresenceStore Store, PresenceTracker Tracker);
}

public sealed class SqliteRedisPresenceTests() : RedisPresenceTests(DatabaseProvider.Sqlite);

public sealed class PostgresRedisPresenceTests() : RedisPresenceTests(DatabaseProvider.Postgres);
