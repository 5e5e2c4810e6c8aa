using System.Diagnostics;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Storage;

/// <summary>The real app on a PostgreSQL of its own, which the test stops mid-stream.</summary>
internal sealed class PrivateDatabaseApp(string connectionString, string dataDirectory) : WebApplicationFactory<Program>
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        builder.UseSetting("ConnectionStrings:Database", connectionString);
        builder.UseSetting("ConnectionStrings:Redis", "");
        builder.UseSetting("Storage:DataDirectory", dataDirectory);
        builder.UseSetting("Admin:Email", "admin@test.local");
        builder.UseSetting("Admin:Password", "admin-password-1");
    }
}

/// <summary>SPEC §10: PostgreSQL stopped mid-stream — 0 samples lost, 0 duplicated.</summary>
public sealed class PostgresOutageTests : IAsyncLifetime
{
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(30);
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "measureapp-tests", Guid.NewGuid().ToString("N"));
    private PrivatePostgres? _postgres;
    private PrivateDatabaseApp? _app;

    public async Task InitializeAsync()
    {
        _postgres = await PrivatePostgres.StartAsync();
        _app = new PrivateDatabaseApp(_postgres.ConnectionString, _dataDirectory);
        _ = _app.Services;
    }

    [Fact]
    public async Task PostgresStoppedForThirtySecondsMidStreamLosesAndDuplicatesNothing()
    {
        var services = _app!.Services;
        var engine = services.GetRequiredService<MeasurementEngine>();
        var writer = services.GetRequiredService<StoreWriter>();
        var contexts = services.GetRequiredService<IDbContextFactory<AppDbContext>>();
        var user = new Requester("outage-user", "outage@test.local", IsAdmin: false);
        var started = await engine.StartAsync(user, new UserLimits(),
            new StartRequest { DeviceId = "sim-1", Name = "outage", Channels = 4, SampleRate = 20_000 }, CancellationToken.None);
        Assert.True(started.Succeeded, started.Error);
        var id = started.Measurement!.Id;
        await Eventually.TrueAsync(() => writer.ChunksWritten >= 5, "chunks reach PostgreSQL before the outage");

        await _postgres!.StopServerAsync();
        var outage = Stopwatch.StartNew();
        await Eventually.TrueAsync(() => writer.ChunksSpooled > 0 && File.Exists(writer.SpoolPath), "chunks go to the spool once PostgreSQL is gone");
        var spooledEarly = writer.ChunksSpooled;
        // The outage is the scenario itself: it lasts 30 s, and acquisition must go on throughout.
        await Eventually.TrueAsync(() => outage.Elapsed >= Outage && writer.ChunksSpooled >= spooledEarly + 100,
            "a 30 s outage during which the spool keeps growing", Outage + TimeSpan.FromSeconds(15));
        Assert.Equal(MeasurementState.Running, engine.Find(id, user)?.State);
        await _postgres.StartServerAsync();

        await Eventually.TrueAsync(() => writer.SpoolPendingBytes == 0 && !File.Exists(writer.SpoolPath), "the spool is replayed after the restart");
        Assert.True(await engine.StopAsync(id, user, CancellationToken.None));
        var record = await StoredMeasurement.AssertStoppedWithoutGapsAsync(contexts, id);
        Assert.True(record.SampleCount >= 20_000 * (long)Outage.TotalSeconds, $"only {record.SampleCount} samples were acquired");
        Assert.True(writer.ChunksSpooled >= 100);
        Assert.Equal(writer.ChunksSpooled, writer.ChunksReplayed);
        // The pyramid was built for the replayed chunks too: the overview reads no raw data.
        var overview = await services.GetRequiredService<ISampleStore>().ReadDecimatedAsync(id, 0, record.SampleCount, 200, null, CancellationToken.None);
        Assert.Equal(0, overview.RawSamplesRead);
        Assert.Equal(record.SampleCount, overview.ToIndex);
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
        _postgres?.Dispose();
        if (Directory.Exists(_dataDirectory))
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
    }
}
