using System.Data.Common;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MeasureApp.Storage;

/// <summary>
/// Deletes the raw data (chunks and pyramid) of measurements older than their owner's retention
/// (<c>Limits:Retention</c>, or the per-user override) and marks them "data expired"; the
/// measurement's metadata stays. Runs at start and then every <see cref="Interval"/>.
/// </summary>
public sealed class RetentionPurgeService(
    IDbContextFactory<AppDbContext> contexts,
    IOptionsMonitor<LimitsOptions> limits,
    TimeProvider time,
    ILogger<RetentionPurgeService> logger) : BackgroundService
{
    /// <summary>Time between purges.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(5);

    // The longest a measurement can run (upper bound of Limits:MaxDuration): a row still marked
    // running after that was left by a crash, and its data ages from then.
    private static readonly TimeSpan LongestRun = TimeSpan.FromDays(30);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            do
            {
                try
                {
                    await PurgeOnceAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is DbException or InvalidOperationException or TimeoutException)
                {
                    // The database may be briefly away (the store writer spools meanwhile); next round.
                    logger.LogWarning(ex, "Retention purge failed; next attempt in {Interval}", Interval);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    /// <summary>One purge pass; returns how many measurements had their data deleted.</summary>
    public async Task<int> PurgeOnceAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var defaultRetention = limits.CurrentValue.Retention;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var overrides = await db.UserLimits.AsNoTracking()
            .Where(l => l.Retention != null)
            .ToDictionaryAsync(l => l.UserId, l => l.Retention!.Value, StringComparer.Ordinal, cancellationToken);
        // Filtered here, not in SQL: SQLite cannot compare DateTimeOffset, and only measurements whose
        // data still exists are loaded (bounded by the retention window).
        var candidates = await db.Measurements.AsNoTracking()
            .Where(m => !m.DataExpired)
            .Select(m => new { m.Id, m.OwnerId, m.State, m.StartedAt, m.StoppedAt })
            .ToListAsync(cancellationToken);
        var store = new DbSampleStore(contexts);
        var purged = 0;
        foreach (var m in candidates)
        {
            var retention = overrides.GetValueOrDefault(m.OwnerId, defaultRetention);
            var ended = m.State == MeasurementState.Stopped ? m.StoppedAt ?? m.StartedAt : m.StartedAt + LongestRun;
            if (ended + retention > now)
            {
                continue;
            }
            // Data first, flag last: an interrupted pass is simply repeated next time.
            await store.DeleteSamplesAsync(m.Id, cancellationToken);
            await db.Measurements.Where(x => x.Id == m.Id)
                .ExecuteUpdateAsync(s => s.SetProperty(x => x.DataExpired, true), cancellationToken);
            purged++;
            logger.LogInformation("Raw data of measurement {Measurement} expired after {Retention} and was deleted", m.Id, retention);
        }
        return purged;
    }
}
