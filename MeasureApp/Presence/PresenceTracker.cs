using MeasureApp.Coordination;
using MeasureApp.Data;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Presence;

/// <summary>Persisted every 10 s so concurrency history survives restarts.</summary>
public sealed class PresenceSnapshotRecord
{
    public long Id { get; set; }
    public DateTimeOffset At { get; set; }
    public int ActiveUsers { get; set; }
    public int OpenTabs { get; set; }
}

/// <summary>Who is here now.</summary>
/// <param name="At">When.</param>
/// <param name="ActiveUsers">Users with any tab seen within the presence window.</param>
/// <param name="OpenTabs">Open tabs (circuits) on this instance.</param>
/// <param name="UsersPerPage">Active users per page path.</param>
/// <param name="SessionsPerUser">Open tabs per active user (by name).</param>
/// <param name="Degraded">True when Redis is configured but unreachable: the counts cover this instance only.</param>
/// <param name="DegradedReason">Why the answer is degraded, for the operator.</param>
/// <param name="Instances">Instances the counts cover.</param>
public sealed record PresenceNow(DateTimeOffset At, int ActiveUsers, int OpenTabs, IReadOnlyDictionary<string, int> UsersPerPage, IReadOnlyDictionary<string, int> SessionsPerUser,
    bool Degraded = false, string? DegradedReason = null, int Instances = 1);

/// <summary>Current, peak and average concurrent users over one period.</summary>
public sealed record PresencePeriod(string Period, int Peak, double Average, int Samples);

/// <summary>The /api/presence answer.</summary>
public sealed record PresenceReport(PresenceNow Now, IReadOnlyList<PresencePeriod> Periods);

/// <summary>
/// Presence: a user is active when any of their tabs was seen within the last 60 s (heartbeats
/// every 15 s). This instance's tabs come from the circuit registry; with Redis configured the other
/// instances' tabs come from the <see cref="RedisPresenceStore"/>'s last read, and while Redis is
/// unreachable the answer is this instance's only and says so (<see cref="PresenceNow.Degraded"/>).
/// </summary>
public sealed class PresenceTracker(CircuitRegistry circuits, IDbContextFactory<AppDbContext> contexts, TimeProvider time, RedisPresenceStore? shared = null)
{
    /// <summary>A user counts as active while a tab was seen within this window.</summary>
    public static readonly TimeSpan ActiveWindow = TimeSpan.FromSeconds(60);

    private static readonly (string Name, TimeSpan Span)[] Periods =
        [("1h", TimeSpan.FromHours(1)), ("24h", TimeSpan.FromHours(24)), ("7d", TimeSpan.FromDays(7))];

    /// <summary>Who is here now.</summary>
    public PresenceNow Now()
    {
        var now = time.GetUtcNow();
        IEnumerable<TabSighting> tabs = [.. circuits.All.Select(c => new TabSighting("", c.UserId, c.UserName, c.Page, c.LastSeen))];
        var remote = shared?.Remote;
        if (remote is not null)
        {
            tabs = tabs.Concat(remote.Tabs);
        }
        var all = tabs.ToList();
        var active = all.Where(c => now - c.LastSeen <= ActiveWindow).ToList();
        var degraded = shared is not null && remote is null;
        return new PresenceNow(
            now,
            active.Select(c => c.UserId).Distinct(StringComparer.Ordinal).Count(),
            all.Count,
            active.GroupBy(c => "/" + (c.Page ?? "").Split('?')[0]).ToDictionary(g => g.Key, g => g.Select(c => c.UserId).Distinct(StringComparer.Ordinal).Count()),
            active.GroupBy(c => c.UserName).ToDictionary(g => g.Key, g => g.Count()),
            degraded,
            degraded ? RedisPresenceStore.UnreachableReason : null,
            remote?.Instances ?? 1);
    }

    /// <summary>
    /// Stores one snapshot of the current counts. With several instances only the one that claims
    /// the 10-s slot in Redis stores it; false when another instance did.
    /// </summary>
    public async Task<bool> SnapshotAsync(CancellationToken cancellationToken)
    {
        var now = Now();
        if (shared is not null && !await shared.ClaimSnapshotAsync(now.At))
        {
            return false;
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        db.Set<PresenceSnapshotRecord>().Add(new PresenceSnapshotRecord { At = now.At, ActiveUsers = now.ActiveUsers, OpenTabs = now.OpenTabs });
        await db.SaveChangesAsync(cancellationToken);
        return true;
    }

    /// <summary>Current counts plus peak and average over 1 h / 24 h / 7 d from stored snapshots.</summary>
    public async Task<PresenceReport> ReportAsync(CancellationToken cancellationToken)
    {
        var now = Now();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var since = now.At - Periods[^1].Span;
        // DateTimeOffset comparisons do not translate on SQLite; the 7-day window is at most ~60k rows.
        var rows = (await db.Set<PresenceSnapshotRecord>().AsNoTracking().OrderByDescending(s => s.Id).Take(70_000)
            .Select(s => new { s.At, s.ActiveUsers }).ToListAsync(cancellationToken))
            .Where(s => s.At >= since).ToList();
        var periods = Periods.Select(p =>
        {
            var inPeriod = rows.Where(r => r.At >= now.At - p.Span).Select(r => r.ActiveUsers).Append(now.ActiveUsers).ToList();
            return new PresencePeriod(p.Name, inPeriod.Max(), inPeriod.Average(), inPeriod.Count - 1);
        }).ToList();
        return new PresenceReport(now, periods);
    }
}

/// <summary>Persists a presence snapshot every 10 s.</summary>
public sealed class PresenceSnapshotService(PresenceTracker tracker, TimeProvider time, ILogger<PresenceSnapshotService> logger) : BackgroundService
{
    /// <summary>Snapshot period (SPEC §7).</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await tracker.SnapshotAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A database hiccup costs one snapshot, never the service.
                logger.LogWarning(ex, "Presence snapshot failed");
            }
        }
    }
}
