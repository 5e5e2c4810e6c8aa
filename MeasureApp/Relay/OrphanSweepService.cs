using MeasureApp.Coordination;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using MeasureApp.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace MeasureApp.Relay;

/// <summary>
/// With several instances: every <see cref="RelayOptions.OrphanSweepInterval"/> marks Stopped the
/// rows in state Running that no live instance runs (see <see cref="OrphanedMeasurements"/>). A row
/// is an orphan only when it is older than <see cref="RelayOptions.OrphanMinAge"/> (its instance
/// announces within about a second of the start), does not run here, and its announcement key
/// (renewed about every second by the running instance) was missing in two consecutive sweeps with
/// Redis answering every check in between. Redis unreachable (or failing a check) means no
/// sweep at all — an outage lets announcement keys expire, and the second sweep gives the running
/// instance time to announce again once Redis is back.
/// </summary>
public sealed class OrphanSweepService(IConnectionMultiplexer redis, IDbContextFactory<AppDbContext> contexts, MeasurementEngine engine, IOptions<RelayOptions> options, TimeProvider time, ILogger<OrphanSweepService> logger, RedisReachability reachability) : BackgroundService
{
    private readonly RelayOptions _options = options.Value;
    private HashSet<Guid> _suspects = [];

    /// <summary>One sweep; returns how many rows it marked stopped (tests call it directly).</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var rows = await OrphanedMeasurements.UnstoppedAsync(contexts, cancellationToken);
        var now = time.GetUtcNow();
        var candidates = rows.Where(r => now - r.StartedAt >= _options.OrphanMinAge && !engine.IsRunningHere(r.Id)).ToList();
        if (candidates.Count == 0)
        {
            _suspects = [];
            return 0;
        }
        var announced = await AnnouncedAsync(candidates);
        if (announced is null)
        {
            // Never sweep in an outage, and start over afterwards: keys may have expired meanwhile.
            _suspects = [];
            return 0;
        }
        var unannounced = candidates.Where((_, i) => !announced[i]).ToList();
        var orphans = unannounced.Where(r => _suspects.Contains(r.Id)).ToList();
        _suspects = [.. unannounced.Select(r => r.Id)];
        if (orphans.Count == 0)
        {
            return 0;
        }
        var marked = await OrphanedMeasurements.MarkStoppedAsync(contexts, orphans, now, cancellationToken);
        if (marked > 0)
        {
            logger.LogWarning("Marked {Count} measurement(s) stopped whose instance is gone: {Ids}", marked, string.Join(", ", orphans.Select(o => o.Id)));
        }
        return marked;
    }

    // Null when Redis did not answer every check.
    private async Task<bool[]?> AnnouncedAsync(List<MeasurementRecord> candidates)
    {
        if (!reachability.IsReachable)
        {
            logger.LogDebug("Orphan sweep skipped, Redis is not reachable");
            return null;
        }
        try
        {
            var db = redis.GetDatabase();
            return await Task.WhenAll(candidates.Select(r => db.KeyExistsAsync(_options.RunningKey(r.Id))));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            reachability.ReportFailure(ex.Message);
            return null;
        }
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.OrphanSweepInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await SweepAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
                {
                    // The database being away: the next sweep tries again.
                    _suspects = [];
                    logger.LogWarning(ex, "The orphan sweep failed");
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }
}
