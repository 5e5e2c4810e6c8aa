using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.Relay;
using MeasureApp.Storage;
using MeasureApp.Tests.Acquisition;
using MeasureApp.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace MeasureApp.Tests.Storage;

/// <summary>
/// Rows left Running by an instance that is gone: the periodic sweep with Redis (real Redis, own
/// key prefix) and the sweep at a single instance's start, against each database provider.
/// </summary>
public abstract class OrphanSweepTests(StoreFixture fixture)
{
    private static readonly DateTimeOffset LongAgo = DateTimeOffset.UtcNow - TimeSpan.FromMinutes(5);

    [Fact]
    public async Task TheSweepStopsAnUnannouncedRowWithItsStoredSamplesAndLeavesAnnouncedYoungAndLocalOnesAlone()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.RedisConnectionString);
        await using var instance = await EngineHarness.StartNewAsync();
        var options = new RelayOptions { Prefix = $"test:orphans:{Guid.NewGuid():N}:" };
        var orphan = await OrphanWithChunksAsync(1_000, 600, 250);
        var announced = await RowAsync(LongAgo);
        await redis.GetDatabase().StringSetAsync(options.RunningKey(announced), 1, TimeSpan.FromMinutes(1));
        var young = await RowAsync(DateTimeOffset.UtcNow);
        // Running on this very instance (its announcement may lag): never an orphan.
        var local = await instance.StartMeasurementAsync(EngineHarness.Alice, EngineHarness.Request());
        await fixture.Store.CreateMeasurementAsync(local with { StartedAt = LongAgo }, CancellationToken.None);
        using var sweeper = new OrphanSweepService(redis, fixture.Contexts, instance.Engine, Options.Create(options), TimeProvider.System, NullLogger<OrphanSweepService>.Instance, new MeasureApp.Coordination.RedisReachability(redis, TimeProvider.System, NullLogger.Instance));

        // First sight only makes it a suspect: its instance may be announcing again after an outage.
        await sweeper.SweepAsync(CancellationToken.None);
        Assert.Equal(MeasurementState.Running, (await RowOf(orphan)).State);
        Assert.True(await sweeper.SweepAsync(CancellationToken.None) >= 1);

        var row = await RowOf(orphan);
        Assert.Equal(MeasurementState.Stopped, row.State);
        Assert.Equal(StopReason.Shutdown, row.StopReason);
        Assert.Equal(OrphanedMeasurements.Detail, row.StopDetail);
        Assert.Equal(1_850, row.SampleCount);
        Assert.Equal(LongAgo + TimeSpan.FromSeconds(1.85), row.StoppedAt!.Value, TimeSpan.FromMilliseconds(1));
        foreach (var id in new[] { announced, young, local.Id })
        {
            Assert.Equal(MeasurementState.Running, (await RowOf(id)).State);
        }
    }

    [Fact]
    public async Task NothingIsSweptWhileRedisIsUnreachable()
    {
        // Nothing listens on port 1: an outage, in which every announcement key looks missing.
        var config = ConfigurationOptions.Parse("127.0.0.1:1");
        config.AbortOnConnectFail = false;
        config.ConnectTimeout = 200;
        await using var away = await ConnectionMultiplexer.ConnectAsync(config);
        await using var instance = await EngineHarness.StartNewAsync();
        var orphan = await OrphanWithChunksAsync(500);
        using var sweeper = new OrphanSweepService(away, fixture.Contexts, instance.Engine,
            Options.Create(new RelayOptions { Prefix = $"test:orphans:{Guid.NewGuid():N}:" }), TimeProvider.System, NullLogger<OrphanSweepService>.Instance, new MeasureApp.Coordination.RedisReachability(away, TimeProvider.System, NullLogger.Instance));

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, await sweeper.SweepAsync(CancellationToken.None));
        }
        Assert.Equal(MeasurementState.Running, (await RowOf(orphan)).State);
    }

    [Fact]
    public async Task ASingleInstancesStartMarksRowsLeftRunningStoppedAndKeepsStoppedOnes()
    {
        var orphan = await OrphanWithChunksAsync(400, 400);
        var done = Guid.NewGuid();
        await fixture.Store.CreateMeasurementAsync(KnownSignal.Info(done, 1, state: MeasurementState.Stopped, startedAt: LongAgo, stoppedAt: LongAgo + TimeSpan.FromSeconds(3), sampleCount: 3000), CancellationToken.None);
        var services = fixture.Factory.Services;
        // The app under test runs without Redis, like a single instance.
        Assert.Null(services.GetService<IConnectionMultiplexer>());
        var initializer = new DatabaseInitializer(services, services.GetRequiredService<DatabaseSettings>(), services.GetRequiredService<IOptions<AdminOptions>>(), NullLogger<DatabaseInitializer>.Instance);

        await initializer.StartAsync(CancellationToken.None);

        var row = await RowOf(orphan);
        Assert.Equal(MeasurementState.Stopped, row.State);
        Assert.Equal(StopReason.Shutdown, row.StopReason);
        Assert.Equal(800, row.SampleCount);
        var kept = await RowOf(done);
        Assert.Equal(StopReason.User, kept.StopReason);
        Assert.Equal(3000, kept.SampleCount);
    }

    [Fact]
    public async Task ACrashWhileTheSpoolHeldChunksEndsWithTheRowCountingEverySampleOnceTheSpoolIsReplayed()
    {
        // The crash left chunks 0-1 in the database and chunks 2-4 in the spool (the database was
        // away when they were cut); the row still says Running.
        var signal = new KnownSignal(Guid.NewGuid(), 2, [400, 400, 500, 500, 500], (c, i) => c - i * 0.25f);
        await fixture.Store.CreateMeasurementAsync(KnownSignal.Info(signal.MeasurementId, 2, startedAt: LongAgo), CancellationToken.None);
        await fixture.Store.WriteChunksAsync(signal.Chunks.Take(2).ToList(), CancellationToken.None);
        var spoolDirectory = Path.Combine(Path.GetTempPath(), "measureapp-settle-tests", Guid.NewGuid().ToString("N"));
        using (var spool = SpoolFile.Open(Path.Combine(spoolDirectory, SpoolFile.FileName)))
        {
            foreach (var chunk in signal.Chunks.Skip(2))
            {
                spool.Append(chunk);
            }
        }
        var services = fixture.Factory.Services;
        var initializer = new DatabaseInitializer(services, services.GetRequiredService<DatabaseSettings>(), services.GetRequiredService<IOptions<AdminOptions>>(), NullLogger<DatabaseInitializer>.Instance);
        using var writer = new StoreWriter(fixture.Store, Options.Create(new AcquisitionOptions()), Options.Create(new SpoolOptions { Directory = spoolDirectory }),
            TimeProvider.System, NullLogger<StoreWriter>.Instance);
        try
        {
            // The next start: the sweep finds the row before the writer has replayed the spool.
            await initializer.StartAsync(CancellationToken.None);
            Assert.Equal(800, (await RowOf(signal.MeasurementId)).SampleCount);
            await writer.StartAsync(CancellationToken.None);
            await Eventually.TrueAsync(() => !File.Exists(writer.SpoolPath), "the leftover spool is replayed and deleted");

            await Eventually.TrueAsync(async () => (await RowOf(signal.MeasurementId)).SampleCount == signal.Length, "the row counts the replayed samples too");
            var row = await RowOf(signal.MeasurementId);
            Assert.Equal(MeasurementState.Stopped, row.State);
            Assert.Equal(LongAgo + TimeSpan.FromSeconds(signal.Length / 1000.0), row.StoppedAt!.Value, TimeSpan.FromMilliseconds(1));
            await using var db = await fixture.Contexts.CreateDbContextAsync();
            Assert.Equal(signal.Length, await db.Set<SampleChunkRecord>().Where(c => c.MeasurementId == signal.MeasurementId).SumAsync(c => (long)c.SampleCount));
        }
        finally
        {
            await writer.StopAsync(CancellationToken.None);
            Directory.Delete(spoolDirectory, recursive: true);
        }
    }

    private async Task<Guid> OrphanWithChunksAsync(params int[] chunkSizes)
    {
        var signal = new KnownSignal(Guid.NewGuid(), 2, chunkSizes, (c, i) => c + i * 0.5f);
        await fixture.Store.CreateMeasurementAsync(KnownSignal.Info(signal.MeasurementId, 2, startedAt: LongAgo), CancellationToken.None);
        await fixture.Store.WriteChunksAsync(signal.Chunks, CancellationToken.None);
        return signal.MeasurementId;
    }

    private async Task<Guid> RowAsync(DateTimeOffset startedAt)
    {
        var id = Guid.NewGuid();
        await fixture.Store.CreateMeasurementAsync(KnownSignal.Info(id, 1, startedAt: startedAt), CancellationToken.None);
        return id;
    }

    private async Task<MeasurementRecord> RowOf(Guid id)
    {
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        return await db.Measurements.AsNoTracking().SingleAsync(m => m.Id == id);
    }
}

public sealed class SqliteOrphanSweepTests(SqliteStoreFixture fixture) : OrphanSweepTests(fixture), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresOrphanSweepTests(PostgresStoreFixture fixture) : OrphanSweepTests(fixture), IClassFixture<PostgresStoreFixture>;
