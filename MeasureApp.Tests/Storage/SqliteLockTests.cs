using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.Storage;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Storage;

/// <summary>Issue 12 #5: a SQLite file locked by another connection is bridged by the spool within seconds.</summary>
public sealed class SqliteLockTests : IDisposable
{
    private readonly AppFactory _app = new(DatabaseProvider.Sqlite);

    [Fact]
    public async Task WhileAnotherConnectionHoldsTheSqliteFileLockedChunksGoToTheSpoolAndAreStoredAfterwardsWithoutGapsOrDuplicates()
    {
        var services = _app.Services;
        var engine = services.GetRequiredService<MeasurementEngine>();
        var writer = services.GetRequiredService<StoreWriter>();
        var user = new Requester("lock-user", "lock@test.local", IsAdmin: false);
        var started = await engine.StartAsync(user, new UserLimits(),
            new StartRequest { DeviceId = "sim-1", Name = "locked", Channels = 4, SampleRate = 10_000 }, CancellationToken.None);
        Assert.True(started.Succeeded, started.Error);
        var id = started.Measurement!.Id;
        await Eventually.TrueAsync(() => writer.ChunksWritten >= 3, "chunks reach SQLite before the lock");

        var path = new SqliteConnectionStringBuilder(services.GetRequiredService<DatabaseSettings>().ConnectionString) { Pooling = false, DefaultTimeout = 30 }.ConnectionString;
        await using (var holder = new SqliteConnection(path))
        {
            await holder.OpenAsync();
            await using (var begin = holder.CreateCommand())
            {
                begin.CommandText = "BEGIN EXCLUSIVE;";
                await begin.ExecuteNonQueryAsync();
            }
            // The busy timeout is a few seconds, not 30: the writer turns to the spool well within 20 s.
            await Eventually.TrueAsync(() => writer.ChunksSpooled > 0, "chunks go to the spool while the file is locked", TimeSpan.FromSeconds(20));
            Assert.Equal(MeasurementState.Running, engine.Find(id, user)?.State);
            await using var rollback = holder.CreateCommand();
            rollback.CommandText = "ROLLBACK;";
            await rollback.ExecuteNonQueryAsync();
        }

        await Eventually.TrueAsync(() => writer.SpoolPendingBytes == 0 && !File.Exists(writer.SpoolPath), "the spool is replayed once the lock is gone", TimeSpan.FromSeconds(60));
        Assert.True(await engine.StopAsync(id, user, CancellationToken.None));
        await StoredMeasurement.AssertStoppedWithoutGapsAsync(services.GetRequiredService<IDbContextFactory<AppDbContext>>(), id);
    }

    public void Dispose() => _app.Dispose();
}
