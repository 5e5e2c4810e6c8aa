using MeasureApp.Acquisition.Measurements;
using MeasureApp.Coordination;
using MeasureApp.Data;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace MeasureApp.Tests.Coordination;

/// <summary>Builds coordination objects as separate "instances": one multiplexer each, one key prefix per test.</summary>
internal static class RedisKit
{
    public static string NewPrefix() => $"test-{Guid.NewGuid():N}:";

    public static Task<ConnectionMultiplexer> ConnectAsync(string configuration) => ConnectionMultiplexer.ConnectAsync(configuration + ",abortConnect=false");

    /// <summary>An instance's link after its first liveness check (what <see cref="RedisLivenessService"/> does at start).</summary>
    public static async Task<RedisLink> LinkAsync(IConnectionMultiplexer redis, string prefix, string instance, TimeSpan? livenessTtl = null)
    {
        var link = new RedisLink(redis, new RedisCoordinationOptions { KeyPrefix = prefix, InstanceId = instance, LivenessTtl = livenessTtl ?? TimeSpan.FromSeconds(15) },
            TimeProvider.System, NullLogger<RedisLink>.Instance);
        await link.CheckAsync();
        return link;
    }

    /// <summary>A database that must not be asked: proves the count came from Redis.</summary>
    public sealed class NoDatabase : IDbContextFactory<AppDbContext>
    {
        public AppDbContext CreateDbContext() => throw new InvalidOperationException("The database was asked although Redis is reachable.");
    }
}

/// <summary>
/// Two app instances' connections to the test Redis and a key prefix of the test's own, whose keys are
/// deleted afterwards: the arrangement of the cluster-wide limit tests.
/// </summary>
public abstract class TwoRedisInstances : IAsyncLifetime
{
    /// <summary>Prefix of every key the test writes.</summary>
    protected string Prefix { get; } = RedisKit.NewPrefix();

    /// <summary>Instance A's connection.</summary>
    protected ConnectionMultiplexer RedisA { get; private set; } = null!;

    /// <summary>Instance B's connection.</summary>
    protected ConnectionMultiplexer RedisB { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        RedisA = await RedisKit.ConnectAsync(TestEnvironment.RedisConnectionString);
        RedisB = await RedisKit.ConnectAsync(TestEnvironment.RedisConnectionString);
    }

    public async Task DisposeAsync()
    {
        await DeletePrefixAsync();
        await RedisA.DisposeAsync();
        await RedisB.DisposeAsync();
    }

    /// <summary>Deletes every key of the test (what a restart of an unpersisted Redis does to them).</summary>
    protected async Task DeletePrefixAsync()
    {
        var server = RedisA.GetServer(RedisA.GetEndPoints()[0]);
        await foreach (var key in server.KeysAsync(pattern: Prefix + "*"))
        {
            await RedisA.GetDatabase().KeyDeleteAsync(key);
        }
    }
}

/// <summary>Global per-user slots on the shared Redis, as two app instances see them.</summary>
public sealed class RedisLimitCoordinatorTests : TwoRedisInstances
{
    [Fact]
    public async Task FiftyParallelStartsSplitAcrossTwoInstancesNeverExceedTheLimit()
    {
        const int max = 7;
        using var a = new RedisLimitCoordinator(await RedisKit.LinkAsync(RedisA, Prefix, "a"), new RedisKit.NoDatabase(), TimeProvider.System);
        using var b = new RedisLimitCoordinator(await RedisKit.LinkAsync(RedisB, Prefix, "b"), new RedisKit.NoDatabase(), TimeProvider.System);

        var attempts = await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
        {
            var coordinator = i % 2 == 0 ? a : b;
            var (acquired, inUse) = await coordinator.TryAcquireMeasurementSlotAsync("user-1", max, CancellationToken.None);
            return (Coordinator: coordinator, Acquired: acquired, InUse: inUse);
        }));

        Assert.Equal(max, attempts.Count(x => x.Acquired));
        Assert.All(attempts, x => Assert.InRange(x.InUse, 1, max));
        Assert.All(attempts.Where(x => !x.Acquired), x => Assert.Equal(max, x.InUse));
        Assert.Equal(max, a.HeldBy("user-1") + b.HeldBy("user-1"));
        var fields = await RedisA.GetDatabase().HashGetAllAsync(Prefix + "limits:user-1");
        Assert.Equal(max, fields.Sum(f => (int)f.Value));

        foreach (var x in attempts.Where(x => x.Acquired))
        {
            await x.Coordinator.ReleaseMeasurementSlotAsync("user-1", CancellationToken.None);
        }
        Assert.False(await RedisA.GetDatabase().KeyExistsAsync(Prefix + "limits:user-1"));
        Assert.Equal((true, 1), await b.TryAcquireMeasurementSlotAsync("user-1", max, CancellationToken.None));
    }

    [Fact]
    public async Task ADeadInstancesSlotsAreFreedOnceItsLivenessKeyExpires()
    {
        var deadLink = await RedisKit.LinkAsync(RedisA, Prefix, "dead", livenessTtl: TimeSpan.FromSeconds(2));
        using var dead = new RedisLimitCoordinator(deadLink, new RedisKit.NoDatabase(), TimeProvider.System);
        using var alive = new RedisLimitCoordinator(await RedisKit.LinkAsync(RedisB, Prefix, "alive"), new RedisKit.NoDatabase(), TimeProvider.System);
        for (var i = 0; i < 3; i++)
        {
            Assert.True((await dead.TryAcquireMeasurementSlotAsync("user-2", 3, CancellationToken.None)).Acquired);
        }
        Assert.Equal((false, 3), await alive.TryAcquireMeasurementSlotAsync("user-2", 3, CancellationToken.None));

        // The instance "crashes": nobody renews its liveness key, and it never releases.
        var db = RedisB.GetDatabase();
        await Eventually.TrueAsync(async () => !await db.KeyExistsAsync(Prefix + "instance:dead"), "the dead instance's liveness key expires");

        Assert.Equal((true, 1), await alive.TryAcquireMeasurementSlotAsync("user-2", 3, CancellationToken.None));
        Assert.False(await db.HashExistsAsync(Prefix + "limits:user-2", "dead"));
    }

    [Fact]
    public async Task AReleaseWithoutASlotTakesNothingFromOthers()
    {
        using var a = new RedisLimitCoordinator(await RedisKit.LinkAsync(RedisA, Prefix, "a"), new RedisKit.NoDatabase(), TimeProvider.System);
        using var b = new RedisLimitCoordinator(await RedisKit.LinkAsync(RedisB, Prefix, "b"), new RedisKit.NoDatabase(), TimeProvider.System);
        Assert.Equal((true, 1), await a.TryAcquireMeasurementSlotAsync("user-3", 2, CancellationToken.None));

        await b.ReleaseMeasurementSlotAsync("user-3", CancellationToken.None);

        Assert.Equal((true, 2), await b.TryAcquireMeasurementSlotAsync("user-3", 2, CancellationToken.None));
        Assert.Equal((false, 2), await a.TryAcquireMeasurementSlotAsync("user-3", 2, CancellationToken.None));
    }

    [Fact]
    public async Task ARedisThatLostItsKeysWithoutAFailedCommandGetsTheCountsBackAtTheNextCheck()
    {
        var linkA = await RedisKit.LinkAsync(RedisA, Prefix, "a");
        using var a = new RedisLimitCoordinator(linkA, new RedisKit.NoDatabase(), TimeProvider.System);
        using var b = new RedisLimitCoordinator(await RedisKit.LinkAsync(RedisB, Prefix, "b"), new RedisKit.NoDatabase(), TimeProvider.System);
        Assert.Equal((true, 1), await a.TryAcquireMeasurementSlotAsync("user-4", 2, CancellationToken.None));
        Assert.Equal((true, 2), await a.TryAcquireMeasurementSlotAsync("user-4", 2, CancellationToken.None));

        // What a fast restart of an unpersisted Redis looks like to this instance: its keys are gone.
        await DeletePrefixAsync();
        await linkA.CheckAsync();

        Assert.True(linkA.IsReachable);
        Assert.Equal((false, 2), await b.TryAcquireMeasurementSlotAsync("user-4", 2, CancellationToken.None));
    }

}

/// <summary>Redis unreachable: the limit comes from the database (both providers), and Redis gets the counts back after.</summary>
public abstract class RedisLimitFallbackTests(DatabaseProvider provider) : IAsyncLifetime
{
    private const string User = "fallback-user";
    private readonly AppFactory _factory = new(provider);
    private PrivateRedis? _redis;

    public async Task InitializeAsync() => _redis = await PrivateRedis.StartAsync();

    [Fact]
    public async Task WithRedisKilledTheDatabaseCountDecidesAndTheRecoveryRepublishesTheCounts()
    {
        var contexts = _factory.Services.GetRequiredService<IDbContextFactory<AppDbContext>>();
        await using var mux = await RedisKit.ConnectAsync(_redis!.ConnectionString);
        var link = await RedisKit.LinkAsync(mux, "app:", "a");
        using var coordinator = new RedisLimitCoordinator(link, contexts, TimeProvider.System);
        Assert.Equal((true, 1), await coordinator.TryAcquireMeasurementSlotAsync(User, 3, CancellationToken.None));
        await RecordRunningAsync(contexts, "mine, started while Redis was up");

        await _redis.KillAsync();
        var othersId = await RecordRunningAsync(contexts, "another instance's");

        // Database: 2 running; this slot is taken before its row exists (the engine records right after).
        Assert.Equal((true, 3), await coordinator.TryAcquireMeasurementSlotAsync(User, 3, CancellationToken.None));
        Assert.False(link.IsReachable);
        Assert.Equal((false, 3), await coordinator.TryAcquireMeasurementSlotAsync(User, 3, CancellationToken.None));
        await RecordRunningAsync(contexts, "mine, started in the outage");
        Assert.Equal((false, 3), await coordinator.TryAcquireMeasurementSlotAsync(User, 3, CancellationToken.None));
        await StopAsync(contexts, othersId);
        Assert.Equal((true, 3), await coordinator.TryAcquireMeasurementSlotAsync(User, 3, CancellationToken.None));
        await RecordRunningAsync(contexts, "mine, the third");
        await coordinator.ReleaseMeasurementSlotAsync(User, CancellationToken.None);
        Assert.Equal(2, coordinator.HeldBy(User));

        await _redis.StartServerAsync();
        await Eventually.TrueAsync(async () =>
        {
            await link.CheckAsync();
            return link.IsReachable;
        }, "the link sees Redis again and re-publishes", TimeSpan.FromSeconds(60));

        Assert.Equal(2, (int)await mux.GetDatabase().HashGetAsync("app:limits:" + User, "a"));
        await using var otherMux = await RedisKit.ConnectAsync(_redis.ConnectionString);
        using var other = new RedisLimitCoordinator(await RedisKit.LinkAsync(otherMux, "app:", "b"), new RedisKit.NoDatabase(), TimeProvider.System);
        Assert.Equal((true, 3), await other.TryAcquireMeasurementSlotAsync(User, 3, CancellationToken.None));
        Assert.Equal((false, 3), await other.TryAcquireMeasurementSlotAsync(User, 3, CancellationToken.None));
    }

    [Fact]
    public async Task AnUnreachableRedisFromTheStartFallsBackAtOnce()
    {
        var contexts = _factory.Services.GetRequiredService<IDbContextFactory<AppDbContext>>();
        await using var mux = await RedisKit.ConnectAsync($"127.0.0.1:{PrivateRedis.FreePort()},connectTimeout=500");
        var link = await RedisKit.LinkAsync(mux, "app:", "a");
        using var coordinator = new RedisLimitCoordinator(link, contexts, TimeProvider.System);
        await RecordRunningAsync(contexts, "running");

        Assert.Equal((false, 1), await coordinator.TryAcquireMeasurementSlotAsync(User, 1, CancellationToken.None));
        Assert.False(link.IsReachable);
        Assert.Equal((true, 2), await coordinator.TryAcquireMeasurementSlotAsync(User, 2, CancellationToken.None));
    }

    public async Task DisposeAsync()
    {
        _redis?.Dispose();
        await _factory.DisposeAsync();
    }

    private static async Task<Guid> RecordRunningAsync(IDbContextFactory<AppDbContext> contexts, string name)
    {
        await using var db = await contexts.CreateDbContextAsync();
        var record = new MeasurementRecord
        {
            Id = Guid.CreateVersion7(),
            OwnerId = User,
            OwnerName = "fallback@test.local",
            Name = name,
            DeviceId = "sim-1",
            ChannelsJson = "[]",
            State = MeasurementState.Running,
            StartedAt = DateTimeOffset.UtcNow,
        };
        db.Measurements.Add(record);
        await db.SaveChangesAsync();
        return record.Id;
    }

    private static async Task StopAsync(IDbContextFactory<AppDbContext> contexts, Guid id)
    {
        await using var db = await contexts.CreateDbContextAsync();
        var record = await db.Measurements.SingleAsync(m => m.Id == id);
        record.State = MeasurementState.Stopped;
        await db.SaveChangesAsync();
    }
}

public sealed class SqliteRedisLimitFallbackTests() : RedisLimitFallbackTests(DatabaseProvider.Sqlite);

public sealed class PostgresRedisLimitFallbackTests() : RedisLimitFallbackTests(DatabaseProvider.Postgres);
