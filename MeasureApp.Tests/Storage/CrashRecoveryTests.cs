using System.Net.Http.Json;
using System.Text.Json;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Storage;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace MeasureApp.Tests.Storage;

/// <summary>
/// Issue 12 #3 and #5 with the real app as a child process (this build's MeasureApp.dll): killed with
/// SIGKILL while its database takes no writes and blocks sit in the spool (SQLite locked by a second
/// connection; a private PostgreSQL stopped), and shut down with SIGTERM while SQLite is locked.
/// </summary>
public sealed class CrashRecoveryTests : IAsyncLifetime
{
    private const string AdminEmail = "admin@crash.local";
    private const string AdminPassword = "crash-test-password-1";
    private readonly string _work = Path.Combine(Path.GetTempPath(), "measureapp-crash-tests", Guid.NewGuid().ToString("N")[..12]);
    private PrivatePostgres? _postgres;

    private string Data => Path.Combine(_work, "data");

    private string SpoolFolder => Path.Combine(Data, "spool");

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(_work);
        return Task.CompletedTask;
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task AKillDuringSpoolingLosesNoSpooledBlockAndAfterTheRestartEachIsStoredOnceWithoutHoles(DatabaseProvider provider)
    {
        var database = "";
        if (provider == DatabaseProvider.Postgres)
        {
            _postgres = await PrivatePostgres.StartAsync();
            database = _postgres.ConnectionString;
        }
        Guid id;
        await using (var app = await StartAppAsync(database))
        {
            id = await StartMeasurementAsync(app);
            await WaitForStoredChunksAsync(database, id);
            await using var fault = await StopWritesAsync(provider);
            // Enough for many spooled batches (10 kHz × 4 ch is 160 kB/s).
            await Eventually.TrueAsync(() => SpoolBytes(SpoolFolder) > 400_000, "blocks go to the spool while the database takes no writes", TimeSpan.FromSeconds(90));
            app.KillHard();
        }

        // What the killed app had acknowledged into the spool (a copy, read the way the next start reads it).
        var snapshot = Path.Combine(_work, "spool-at-kill");
        Directory.CreateDirectory(snapshot);
        foreach (var file in Directory.GetFiles(SpoolFolder, "*.spool"))
        {
            File.Copy(file, Path.Combine(snapshot, Path.GetFileName(file)));
        }
        List<StoredChunk> spooled;
        using (var spool = Spool.Open(snapshot, long.MaxValue))
        {
            spooled = [.. spool.ReadAll().OfType<SpooledChunk>().Select(c => c.Chunk).Where(c => c.MeasurementId == id)];
        }
        Assert.True(spooled.Count >= 5, $"only {spooled.Count} chunks were in the spool at the kill");

        await using (var app = await StartAppAsync(database))
        {
            var run = await WaitForRecoveryAsync(database, id);
            Assert.True(run.Contiguous, "the stored chunks run from sample 0 without a hole or an overlap");
            await using var db = StoredRun.Open(database, Data);
            var stored = await db.Set<MeasureApp.Data.SampleChunkRecord>().AsNoTracking().Where(c => c.MeasurementId == id)
                .Select(c => new { c.Sequence, c.FirstSampleIndex, c.SampleCount }).ToListAsync();
            Assert.Equal(stored.Count, stored.Select(c => c.Sequence).Distinct().Count());
            foreach (var chunk in spooled)
            {
                var match = Assert.Single(stored, c => c.Sequence == chunk.Sequence);
                Assert.Equal((chunk.FirstSampleIndex, chunk.SampleCount), (match.FirstSampleIndex, match.SampleCount));
            }
            Assert.True(run.Samples >= spooled.Max(c => c.FirstSampleIndex + c.SampleCount));
            Assert.Equal(OrphanedMeasurements.Detail, run.Row!.StopDetail);
        }
    }

    [Fact]
    public async Task AGracefulShutdownWhileSqliteIsLockedEndsWithinTheHostsThirtySecondsAndStoresTheFinalState()
    {
        Guid id;
        await using (var app = await StartAppAsync(""))
        {
            id = await StartMeasurementAsync(app);
            await WaitForStoredChunksAsync("", id);
            await using var fault = await StopWritesAsync(DatabaseProvider.Sqlite);
            await Eventually.TrueAsync(() => SpoolBytes(SpoolFolder) > 0, "blocks go to the spool while SQLite is locked", TimeSpan.FromSeconds(60));

            // The host gives hosted services 30 s; past that the final state would be lost to the orphan sweep.
            var took = await app.StopAsync(TimeSpan.FromSeconds(30));
            Assert.True(took is not null, $"the app did not exit within 30 s of SIGTERM:\n{app.LogTail()}");
            Assert.DoesNotContain("did not complete cleanly", app.LogTail(400), StringComparison.Ordinal);
        }

        await using (var app = await StartAppAsync(""))
        {
            var run = await WaitForRecoveryAsync("", id);
            Assert.True(run.Contiguous);
            // Stopped by the shutdown itself (its final save came through the spool), not swept as an orphan.
            Assert.Equal(StopReason.Shutdown, run.Row!.StopReason);
            Assert.NotEqual(OrphanedMeasurements.Detail, run.Row.StopDetail);
        }
    }

    public async Task DisposeAsync()
    {
        _postgres?.Dispose();
        SqliteConnection.ClearAllPools();
        NpgsqlConnection.ClearAllPools();
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
            // Temp folder; the OS cleans it.
        }
    }

    private Task<AppProcess> StartAppAsync(string database) =>
        AppProcess.StartAsync(AppProcess.DefaultDll, Data, database, AdminEmail, AdminPassword, null, TimeSpan.FromMinutes(3));

    private static async Task<Guid> StartMeasurementAsync(AppProcess app)
    {
        using var client = await app.LoginAsync(AdminEmail, AdminPassword);
        using var response = await client.PostAsJsonAsync("/api/measurements", new { device = "sim-1", name = "crash", channels = 4, sampleRate = 10_000 });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"start answered {(int)response.StatusCode}: {body}");
        using var json = JsonDocument.Parse(body);
        return json.RootElement.GetProperty("id").GetGuid();
    }

    private async Task WaitForStoredChunksAsync(string database, Guid id) =>
        await Eventually.TrueAsync(async () =>
        {
            await using var db = StoredRun.Open(database, Data);
            return (await StoredRun.ReadAsync(db, id)).Chunks >= 2;
        }, "chunks reach the database before the fault", TimeSpan.FromSeconds(60));

    // Recovery is over when the row is stopped, the spool is gone and the row counts exactly what is stored.
    private async Task<StoredRun> WaitForRecoveryAsync(string database, Guid id)
    {
        StoredRun? run = null;
        await Eventually.TrueAsync(async () =>
        {
            await using var db = StoredRun.Open(database, Data);
            run = await StoredRun.ReadAsync(db, id);
            return run.Row is { State: MeasurementState.Stopped } row && row.SampleCount == run.Samples && !Spool.ExistsIn(SpoolFolder);
        }, "the restarted app replays the spool and settles the row", TimeSpan.FromSeconds(120));
        return run!;
    }

    private static long SpoolBytes(string folder) =>
        Directory.Exists(folder) ? Directory.GetFiles(folder, "*.spool").Sum(f => new FileInfo(f).Length) : 0;

    // The database takes no writes until disposed: SQLite locked by this test's own connection, or PostgreSQL stopped.
    private async Task<IAsyncDisposable> StopWritesAsync(DatabaseProvider provider)
    {
        if (provider == DatabaseProvider.Postgres)
        {
            await _postgres!.StopServerAsync();
            return new Undo(_postgres.StartServerAsync);
        }
        var holder = new SqliteConnection($"Data Source={Path.Combine(Data, "measureapp.db")};Pooling=False;Default Timeout=30");
        await holder.OpenAsync();
        await using (var begin = holder.CreateCommand())
        {
            begin.CommandText = "BEGIN EXCLUSIVE;";
            await begin.ExecuteNonQueryAsync();
        }
        return new Undo(async () =>
        {
            await using (var rollback = holder.CreateCommand())
            {
                rollback.CommandText = "ROLLBACK;";
                await rollback.ExecuteNonQueryAsync();
            }
            await holder.DisposeAsync();
        });
    }

    private sealed class Undo(Func<Task> undo) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await undo();
    }
}
