using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Audit;

/// <summary>Filters of the audit trail (the admin page and <c>GET /api/admin/audit</c>).</summary>
public sealed record AuditQuery
{
    /// <summary>Entries where this user id acted or was acted on.</summary>
    public string? UserId { get; init; }
    /// <summary>One of <see cref="AuditActions"/>.</summary>
    public string? Action { get; init; }
    /// <summary>Entries about this measurement.</summary>
    public Guid? MeasurementId { get; init; }
    /// <summary>At or after (UTC).</summary>
    public DateTimeOffset? From { get; init; }
    /// <summary>Before (UTC).</summary>
    public DateTimeOffset? To { get; init; }
    /// <summary>Zero-based page.</summary>
    public int Page { get; init; }
    /// <summary>Entries per page (1–200).</summary>
    public int PageSize { get; init; } = 50;
}

/// <summary>One page of the audit trail, newest first.</summary>
public sealed record AuditPage(IReadOnlyList<AuditRecord> Items, int Total);

/// <summary>
/// The audit trail: appends who started, stopped, deleted, shared, unshared or exported which measurement,
/// and who changed whose limits or role. Append-only by construction: this class has no update or delete,
/// and nothing else in the app writes the table. An entry that cannot be written (database away) does not
/// undo or block the action; it is logged as an error and counted (<see cref="FailedWrites"/>, shown on
/// the Audit page and in <c>/metrics</c>).
/// </summary>
public sealed class AuditLog(IDbContextFactory<AppDbContext> contexts, TimeProvider time, ILogger<AuditLog> logger)
{
    private long _failedWrites;

    /// <summary>Entries that could not be written since the start.</summary>
    public long FailedWrites => Interlocked.Read(ref _failedWrites);

    /// <summary>Appends one entry by <paramref name="actor"/>.</summary>
    public async Task WriteAsync(Requester actor, string action, Guid? measurementId = null, string? measurementName = null,
        string? targetUserId = null, string? targetUserName = null, string? detail = null)
    {
        ArgumentNullException.ThrowIfNull(actor);
        var entry = new AuditRecord
        {
            At = time.GetUtcNow(),
            ActorId = actor.UserId,
            ActorName = Cut(actor.UserName, 256)!,
            Action = action,
            MeasurementId = measurementId,
            MeasurementName = Cut(measurementName, 100),
            TargetUserId = targetUserId,
            TargetUserName = Cut(targetUserName, 256),
            Detail = Cut(detail, 500),
        };
        try
        {
            // Not the caller's token: an action that happened is recorded even when its request was aborted.
            await using var db = await contexts.CreateDbContextAsync(CancellationToken.None);
            db.Audit.Add(entry);
            await db.SaveChangesAsync(CancellationToken.None);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Interlocked.Increment(ref _failedWrites);
            logger.LogError(ex, "Audit entry not written: {Actor} {Action} measurement {Measurement} user {Target} {Detail}",
                actor.UserName, action, measurementId, targetUserName, detail);
        }
    }

    /// <summary>Audits a start that succeeded (<paramref name="started"/> non-null); nothing without a log (tests).</summary>
    public static Task StartedAsync(AuditLog? audit, Requester actor, MeasurementInfo? started) =>
        audit is null || started is null ? Task.CompletedTask
            : audit.WriteAsync(actor, AuditActions.Start, started.Id, started.Name,
                detail: string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{started.DeviceId}, {started.Channels.Count} ch, {started.SampleRate} Hz"));

    /// <summary>A page of entries matching <paramref name="query"/>, newest first.</summary>
    public async Task<AuditPage> QueryAsync(AuditQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var q = db.Audit.AsNoTracking();
        if (!string.IsNullOrEmpty(query.UserId))
        {
            q = q.Where(a => a.ActorId == query.UserId || a.TargetUserId == query.UserId);
        }
        if (!string.IsNullOrEmpty(query.Action))
        {
            q = q.Where(a => a.Action == query.Action);
        }
        if (query.MeasurementId is { } m)
        {
            q = q.Where(a => a.MeasurementId == m);
        }
        if (query.From is { } from)
        {
            q = q.Where(a => a.At >= from);
        }
        if (query.To is { } to)
        {
            q = q.Where(a => a.At < to);
        }
        var total = await q.CountAsync(cancellationToken);
        var size = Math.Clamp(query.PageSize, 1, 200);
        var items = await q.OrderByDescending(a => a.Id).Skip(Math.Max(0, query.Page) * size).Take(size).ToListAsync(cancellationToken);
        return new AuditPage(items, total);
    }

    private static string? Cut(string? s, int max) => s is null || s.Length <= max ? s : s[..max];
}
