using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.History;
using MeasureApp.Storage;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MeasureApp.Tests.Storage;

/// <summary>
/// Issue 12 #7a: a measurement stopped while the database takes no writes (SQLite locked by another
/// connection; PostgreSQL switched read-only, as a standby after a failover is) has its final row
/// update in the spool. The row still says Running, but the catalog (Measurements page, API) answers
/// Stopped at once, and keeps doing so after the spool delivered the update.
/// </summary>
public sealed class SpooledStopTests
{
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task AMeasurementStoppedWhileTheDatabaseRefusesWritesReadsStoppedAtOnceNotRunningFromItsStaleRow(DatabaseProvider provider)
    {
        using var app = new AppFactory(provider);
        var services = app.Services;
        var engine = services.GetRequiredService<MeasurementEngine>();
        var writer = services.GetRequiredService<StoreWriter>();
        var catalog = services.GetRequiredService<MeasurementCatalog>();
        var contexts = services.GetRequiredService<IDbContextFactory<AppDbContext>>();
        var user = new Requester("stop-user", "stop@test.local", IsAdmin: false);
        var started = await engine.StartAsync(user, new UserLimits(),
            new StartRequest { DeviceId = "sim-1", Name = "spooled stop", Channels = 2, SampleRate = 1000 }, CancellationToken.None);
        Assert.True(started.Succeeded, started.Error);
        var id = started.Measurement!.Id;
        await Eventually.TrueAsync(() => writer.ChunksWritten >= 1, "chunks reach the database before the fault");

        await using (var fault = await WriteFault.StartAsync(app, services))
        {
            Assert.True(await engine.StopAsync(id, user, CancellationToken.None));
            Assert.True(writer.SpoolPendingBytes > 0, "the final update waits in the spool");
            Assert.Null(engine.Find(id, user));
            await using (var db = await contexts.CreateDbContextAsync())
            {
                Assert.Equal(MeasurementState.Running, (await db.Measurements.AsNoTracking().SingleAsync(m => m.Id == id)).State);
            }

            var found = await catalog.FindAsync(user, id, CancellationToken.None);
            Assert.Equal(MeasurementState.Stopped, found!.State);
            Assert.Equal(StopReason.User, found.StopReason);
            Assert.NotNull(found.StoppedAt);
            var listed = Assert.Single((await catalog.ListAsync(user, new MeasurementQuery(), CancellationToken.None)).Items);
            Assert.Equal(MeasurementState.Stopped, listed.State);
            Assert.Equal(found.SampleCount, listed.SampleCount);
        }

        await Eventually.TrueAsync(() => writer.SpoolPendingBytes == 0, "the spool is replayed once the database takes writes again", TimeSpan.FromSeconds(60));
        var stored = await StoredMeasurement.AssertStoppedWithoutGapsAsync(contexts, id);
        Assert.Equal(StopReason.User, stored.StopReason);
        Assert.Null(writer.SpooledFinalState(id));
        Assert.Equal(MeasurementState.Stopped, (await catalog.FindAsync(user, id, CancellationToken.None))!.State);
    }

    /// <summary>The database refuses writes but answers reads until disposed.</summary>
    private sealed class WriteFault : IAsyncDisposable
    {
        private readonly Func<Task> _undo;

        private WriteFault(Func<Task> undo) => _undo = undo;

        public static async Task<WriteFault> StartAsync(AppFactory app, IServiceProvider services)
        {
            if (app.Provider == DatabaseProvider.Sqlite)
            {
                // Another connection holds the file's write lock (WAL: readers still read).
                var path = new SqliteConnectionStringBuilder(services.GetRequiredService<DatabaseSettings>().ConnectionString) { Pooling = false }.ConnectionString;
                var holder = new SqliteConnection(path);
                await holder.OpenAsync();
                await using (var begin = holder.CreateCommand())
                {
                    begin.CommandText = "BEGIN EXCLUSIVE;";
                    await begin.ExecuteNonQueryAsync();
                }
                return new WriteFault(async () =>
                {
                    await using (var rollback = holder.CreateCommand())
                    {
                        rollback.CommandText = "ROLLBACK;";
                        await rollback.ExecuteNonQueryAsync();
                    }
                    await holder.DisposeAsync();
                });
            }
            var database = new NpgsqlConnectionStringBuilder(app.ConnectionString).Database!;
            await SetReadOnlyAsync(database, true);
            return new WriteFault(() => SetReadOnlyAsync(database, false));
        }

        public async ValueTask DisposeAsync() => await _undo();

        // New sessions start read-only; the app's open sessions are cut, so its pool reconnects into the new setting.
        private static async Task SetReadOnlyAsync(string database, bool readOnly)
        {
            await using var admin = new NpgsqlConnection(TestEnvironment.PostgresConnectionString);
            await admin.OpenAsync();
            await using var alter = new NpgsqlCommand($"ALTER DATABASE {database} SET default_transaction_read_only = {(readOnly ? "on" : "off")}", admin);
            await alter.ExecuteNonQueryAsync();
            await using var cut = new NpgsqlCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = @db AND pid <> pg_backend_pid()", admin);
            cut.Parameters.AddWithValue("db", database);
            await cut.ExecuteScalarAsync();
            // The app runs in this process: drop its pooled connections that were just cut.
            NpgsqlConnection.ClearAllPools();
        }
    }
}
