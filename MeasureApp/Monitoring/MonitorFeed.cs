using MeasureApp.Acquisition.Accounting;
using MeasureApp.Data;
using MeasureApp.Presence;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Monitoring;

/// <summary>One row of the Monitor page: a user's live resource use plus their open tabs.</summary>
public sealed record MonitorRow(string UserId, string UserName, UserUsage Usage, int OpenTabs);

/// <summary>One refresh of the Monitor page; <paramref name="Latency"/> is null when no live chart rendered in the last 10 s.</summary>
public sealed record MonitorSample(DateTimeOffset At, IReadOnlyList<MonitorRow> Rows, int ActiveUsers, int OpenTabs, LatencyPercentiles? Latency = null);

/// <summary>One stored presence snapshot for the Monitor page's users chart.</summary>
public sealed record PresencePoint(DateTimeOffset At, int ActiveUsers);

/// <summary>
/// Feeds the admin Monitor page once a second (scoped per circuit: the loop lives here, not in the
/// component). Reads the accountant's snapshot and the circuit registry; holds counts only. Each visit
/// of the page starts its own loop with <see cref="Start"/> and ends it by disposing what that returned,
/// so a second visit in the same tab updates like the first.
/// </summary>
public sealed class MonitorFeed(ResourceAccountant accountant, CircuitRegistry circuits, PresenceTracker presence, IDbContextFactory<AppDbContext> contexts, TimeProvider time, ILogger<MonitorFeed> logger,
    LiveLatencyStats? latency = null)
{
    // An hour of 10-s snapshots, with room for several instances' rows.
    private const int HistoryLimit = 2_000;

    private readonly Dictionary<string, string> _names = new(StringComparer.Ordinal);

    /// <summary>Takes one sample now.</summary>
    public async Task<MonitorSample> SampleAsync(CancellationToken cancellationToken)
    {
        var tabs = circuits.All;
        var names = tabs.GroupBy(c => c.UserId).ToDictionary(g => g.Key, g => (Name: g.First().UserName, Count: g.Count()));
        var usage = accountant.Snapshot();
        var unknown = usage.Select(u => u.UserId).Where(id => !_names.ContainsKey(id) && !names.ContainsKey(id)).ToList();
        if (unknown.Count > 0)
        {
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            foreach (var u in await db.Users.AsNoTracking().Where(u => unknown.Contains(u.Id)).Select(u => new { u.Id, u.Email }).ToListAsync(cancellationToken))
            {
                _names[u.Id] = u.Email ?? u.Id;
            }
        }
        string NameOf(string id) => names.TryGetValue(id, out var n) ? n.Name : _names.GetValueOrDefault(id, id);
        var rows = usage
            .Select(u => new MonitorRow(u.UserId, NameOf(u.UserId), u, names.TryGetValue(u.UserId, out var m) ? m.Count : 0))
            .Concat(names.Where(n => usage.All(u => u.UserId != n.Key)).Select(n => new MonitorRow(n.Key, n.Value.Name, new UserUsage { UserId = n.Key }, n.Value.Count)))
            .OrderByDescending(r => r.Usage.ValuesPerSecond).ThenBy(r => r.UserName, StringComparer.Ordinal)
            .ToList();
        // Active users and open tabs come from presence: with Redis they count every instance's tabs,
        // while the per-user rows (resource use) are this instance's.
        var now = presence.Now();
        return new MonitorSample(time.GetUtcNow(), rows, now.ActiveUsers, now.OpenTabs, latency?.Percentiles());
    }

    /// <summary>The stored presence snapshots (one per 10 s) of the last <paramref name="span"/>, oldest first.</summary>
    public async Task<IReadOnlyList<PresencePoint>> HistoryAsync(TimeSpan span, CancellationToken cancellationToken)
    {
        var since = time.GetUtcNow() - span;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        // Newest first by id (SQLite cannot order by DateTimeOffset), bounded, then filtered by time in memory.
        var rows = await db.Set<PresenceSnapshotRecord>().AsNoTracking().OrderByDescending(s => s.Id)
            .Take(HistoryLimit).Select(s => new PresencePoint(s.At, s.ActiveUsers)).ToListAsync(cancellationToken);
        return [.. rows.Where(p => p.At >= since).OrderBy(p => p.At)];
    }

    /// <summary>
    /// Calls <paramref name="onSample"/> every second until the returned handle is disposed. When a
    /// sample or the callback fails, the loop ends and <paramref name="onError"/> says why (the page shows it).
    /// </summary>
    public IAsyncDisposable Start(Func<MonitorSample, Task> onSample, Func<Exception, Task> onError)
    {
        var stop = new CancellationTokenSource();
        return new Loop(stop, RunAsync(onSample, onError, stop.Token));
    }

    private async Task RunAsync(Func<MonitorSample, Task> onSample, Func<Exception, Task> onError, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                await onSample(await SampleAsync(ct));
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Page closed.
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            logger.LogWarning(ex, "Monitor feed stopped updating");
            await onError(ex);
        }
    }

    private sealed class Loop(CancellationTokenSource stop, Task running) : IAsyncDisposable
    {
        private int _disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }
            await stop.CancelAsync();
            await running;
            stop.Dispose();
        }
    }
}
