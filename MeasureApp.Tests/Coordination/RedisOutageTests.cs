using System.Net;
using System.Text.Json;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Coordination;
using MeasureApp.Data;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace MeasureApp.Tests.Coordination;

/// <summary>SPEC §10: redis-server killed with -9 mid-stream and restarted (PostgreSQL provider).</summary>
public sealed class RedisOutageTests : IAsyncLifetime
{
    private PrivateRedis? _redis;
    private AppFactory? _app;

    public async Task InitializeAsync()
    {
        _redis = await PrivateRedis.StartAsync();
        _app = new AppFactory(DatabaseProvider.Postgres, new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = _redis.ConnectionString });
        _ = _app.Services;
    }

    [Fact]
    public async Task RedisKilledMidStreamKeepsPagesAndRecordingAndRecoversWithNoSampleLost()
    {
        var services = _app!.Services;
        Assert.IsType<RedisLimitCoordinator>(services.GetRequiredService<ILimitCoordinator>());
        var engine = services.GetRequiredService<MeasurementEngine>();
        var contexts = services.GetRequiredService<IDbContextFactory<AppDbContext>>();
        var admin = await HttpLogin.LoggedInClientAsync(_app, AppFactory.AdminEmail, AppFactory.AdminPassword);
        var user = new Requester("redis-outage-user", "redis-outage@test.local", IsAdmin: false);
        var limits = new UserLimits { MaxParallelMeasurements = 1 };
        var request = new StartRequest { DeviceId = "sim-1", Name = "redis outage", Channels = 4, SampleRate = 20_000 };
        var started = await engine.StartAsync(user, limits, request, CancellationToken.None);
        Assert.True(started.Succeeded, started.Error);
        var id = started.Measurement!.Id;
        await Eventually.TrueAsync(() => engine.Find(id, user)!.SampleCount >= 20_000, "samples flow before the outage");
        Assert.False((await PresenceAsync(admin)).GetProperty("degraded").GetBoolean());

        await _redis!.KillAsync();
        var atKill = engine.Find(id, user)!.SampleCount;

        await Eventually.TrueAsync(async () => (await PresenceAsync(admin)).GetProperty("degraded").GetBoolean(), "/api/presence answers degraded");
        var degraded = await PresenceAsync(admin);
        Assert.Equal(RedisPresenceStore.UnreachableReason, degraded.GetProperty("degradedReason").GetString());
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/measurements")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await admin.GetAsync("/health/ready")).StatusCode);
        // A second start is still limit-checked: the database holds the running measurement.
        var refused = await engine.StartAsync(user, limits, request, CancellationToken.None);
        Assert.False(refused.Succeeded);
        Assert.Equal("You are running 1 of 1 allowed measurements.", refused.Error);
        await Eventually.TrueAsync(() => engine.Find(id, user)!.SampleCount >= atKill + 40_000, "the measurement keeps recording without Redis");
        Assert.Equal(MeasurementState.Running, engine.Find(id, user)!.State);

        await _redis.StartServerAsync();
        await Eventually.TrueAsync(async () => !(await PresenceAsync(admin)).GetProperty("degraded").GetBoolean(), "presence recovers", TimeSpan.FromSeconds(60));
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/health/ready")).StatusCode);
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString))
        {
            // The restarted Redis was empty: the running measurement's slot was re-published.
            var fields = await redis.GetDatabase().HashGetAllAsync("measureapp:limits:" + user.UserId);
            Assert.Equal(1, fields.Sum(f => (int)f.Value));
        }
        Assert.False((await engine.StartAsync(user, limits, request, CancellationToken.None)).Succeeded);

        Assert.True(await engine.StopAsync(id, user, CancellationToken.None));
        MeasurementRecord? record = null;
        await Eventually.TrueAsync(async () => (record = await StoredAsync(contexts, id)).State == MeasurementState.Stopped, "the final metadata is stored");
        // Every sample counted by the measurement is stored exactly once: the chunks tile 0..SampleCount.
        await using var check = await contexts.CreateDbContextAsync();
        var chunks = await check.Set<SampleChunkRecord>().AsNoTracking().Where(c => c.MeasurementId == id)
            .Select(c => new { c.FirstSampleIndex, c.SampleCount }).ToListAsync();
        Assert.Equal(record!.SampleCount, chunks.Sum(c => (long)c.SampleCount));
        Assert.Equal(record.SampleCount, chunks.Max(c => c.FirstSampleIndex + c.SampleCount));
        Assert.Equal(chunks.Count, chunks.Select(c => c.FirstSampleIndex).Distinct().Count());
        Assert.True(record.SampleCount >= atKill + 40_000);
        var next = await engine.StartAsync(user, limits, request, CancellationToken.None);
        Assert.True(next.Succeeded, next.Error);
        await engine.StopAsync(next.Measurement!.Id, user, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
        _redis?.Dispose();
    }

    private static async Task<MeasurementRecord> StoredAsync(IDbContextFactory<AppDbContext> contexts, Guid id)
    {
        await using var db = await contexts.CreateDbContextAsync();
        return await db.Measurements.AsNoTracking().SingleAsync(m => m.Id == id);
    }

    private static async Task<JsonElement> PresenceAsync(HttpClient admin)
    {
        var json = await admin.GetStringAsync("/api/presence");
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("now").Clone();
    }
}
