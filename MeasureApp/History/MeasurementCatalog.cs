using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.History;

/// <summary>One page of measurements.</summary>
/// <param name="Items">Rows of this page.</param>
/// <param name="Total">Rows matching the filter.</param>
public sealed record MeasurementPage(IReadOnlyList<MeasurementRecord> Items, int Total);

/// <summary>A measurement the requester may read, and whether only through a share (read-only: no stop, delete, edit or re-share).</summary>
/// <param name="Record">The measurement.</param>
/// <param name="IsReadOnly">True for a shared reader; false for the owner or an admin.</param>
public sealed record MeasurementAccess(MeasurementRecord Record, bool IsReadOnly);

/// <summary>Whether a requester may change a measurement: the one rule behind every write path's 404 / 403.</summary>
public enum WriteVerdict
{
    /// <summary>Unknown, or not visible to the requester: answered exactly like an unknown id (404).</summary>
    NotFound,
    /// <summary>Visible through a share only: it reads, but does not change it (403).</summary>
    ReadOnly,
    /// <summary>The owner or an admin.</summary>
    Writable,
}

/// <summary>A <see cref="WriteVerdict"/> and the measurement it is about (null when not found).</summary>
/// <param name="Verdict">What the requester may do.</param>
/// <param name="Record">The measurement, unless <see cref="WriteVerdict.NotFound"/>.</param>
public sealed record WriteAccess(WriteVerdict Verdict, MeasurementRecord? Record);

/// <summary>Query of the measurements list.</summary>
public sealed record MeasurementQuery
{
    /// <summary>Zero-based page.</summary>
    public int Page { get; init; }
    /// <summary>Rows per page (1–200).</summary>
    public int PageSize { get; init; } = 25;
    /// <summary>Sort column: name, started, samples, owner, state.</summary>
    public string? SortBy { get; init; }
    /// <summary>Descending sort.</summary>
    public bool Descending { get; init; } = true;
    /// <summary>Text contained in the name.</summary>
    public string? Search { get; init; }
    /// <summary>Admins only: restrict to one owner.</summary>
    public string? OwnerId { get; init; }
    /// <summary>Only measurements carrying this tag (ignoring case).</summary>
    public string? Tag { get; init; }
    /// <summary>Only measurements of this device id.</summary>
    public string? Device { get; init; }
    /// <summary>Only measurements in this state.</summary>
    public MeasurementState? State { get; init; }
    /// <summary>Only measurements started at or after this time.</summary>
    public DateTimeOffset? StartedFrom { get; init; }
    /// <summary>Only measurements started before this time.</summary>
    public DateTimeOffset? StartedBefore { get; init; }
}

/// <summary>
/// Reads stored measurements with the ownership rule applied in the query itself: operators see
/// their own, admins everyone's. Another user's id answers null ("not found").
/// A stop whose row update still waits in the store writer's spool (database down or locked) is
/// shown from memory, so a stopped measurement never reads Running again meanwhile.
/// </summary>
public sealed class MeasurementCatalog(IDbContextFactory<AppDbContext> contexts, StoreWriter? storeWriter = null)
{
    /// <summary>A page of measurements visible to the requester.</summary>
    public async Task<MeasurementPage> ListAsync(Requester requester, MeasurementQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        ArgumentNullException.ThrowIfNull(query);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var q = Visible(db, requester);
        if (requester.IsAdmin && !string.IsNullOrEmpty(query.OwnerId))
        {
            q = q.Where(m => m.OwnerId == query.OwnerId);
        }
        q = Filtered(db, q, query);
        var total = await q.CountAsync(cancellationToken);
        q = (query.SortBy?.ToLowerInvariant(), query.Descending) switch
        {
            ("name", false) => q.OrderBy(m => m.Name),
            ("name", true) => q.OrderByDescending(m => m.Name),
            ("samples", false) => q.OrderBy(m => m.SampleCount),
            ("samples", true) => q.OrderByDescending(m => m.SampleCount),
            ("owner", false) => q.OrderBy(m => m.OwnerName),
            ("owner", true) => q.OrderByDescending(m => m.OwnerName),
            ("state", false) => q.OrderBy(m => m.State),
            ("state", true) => q.OrderByDescending(m => m.State),
            // Guid v7 ids sort by start time and translate on every provider.
            (_, false) => q.OrderBy(m => m.Id),
            _ => q.OrderByDescending(m => m.Id),
        };
        var size = Math.Clamp(query.PageSize, 1, 200);
        var items = await q.Skip(Math.Max(0, query.Page) * size).Take(size).ToListAsync(cancellationToken);
        items.ForEach(WithSpooledStop);
        return new MeasurementPage(items, total);
    }

    /// <summary>
    /// One measurement with FULL access (owner or admin; the write paths ask this), or null when it does not
    /// exist or is not the requester's — also when it is only shared with them (read paths ask <see cref="FindReadableAsync"/>).
    /// </summary>
    public async Task<MeasurementRecord?> FindAsync(Requester requester, Guid id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await Visible(db, requester).FirstOrDefaultAsync(m => m.Id == id, cancellationToken);
        if (row is not null)
        {
            WithSpooledStop(row);
        }
        return row;
    }

    /// <summary>
    /// One measurement the requester may READ — owner, admin, or a user the owner shared it with — or null
    /// (exactly as for an unknown id). Every read path (history, zoom, replay, export, analysis, annotations,
    /// live attach) asks this; every write path (stop, delete, metadata, shares) asks <see cref="FindAsync"/>,
    /// which a share never satisfies. <see cref="MeasurementAccess.IsReadOnly"/> tells a shared reader apart.
    /// </summary>
    public async Task<MeasurementRecord?> FindReadableAsync(Requester requester, Guid id, CancellationToken cancellationToken) =>
        (await FindWithAccessAsync(requester, id, cancellationToken))?.Record;

    /// <summary>Like <see cref="FindReadableAsync"/>, and says whether the requester reads through a share only.</summary>
    public async Task<MeasurementAccess?> FindWithAccessAsync(Requester requester, Guid id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await Readable(db, requester).FirstOrDefaultAsync(m => m.Id == id, cancellationToken);
        if (row is null)
        {
            return null;
        }
        WithSpooledStop(row);
        return new MeasurementAccess(row, !requester.MayAccess(row.OwnerId));
    }

    /// <summary>
    /// Whether the requester may change the measurement: not found (also when it is another user's and not shared
    /// with them), read-only (shared with them) or writable (owner, admin). Write paths that answer a shared reader
    /// differently from a stranger (403 against 404) ask this.
    /// </summary>
    public async Task<WriteAccess> FindWritableAsync(Requester requester, Guid id, CancellationToken cancellationToken) =>
        await FindWithAccessAsync(requester, id, cancellationToken) is { } access
            ? new WriteAccess(access.IsReadOnly ? WriteVerdict.ReadOnly : WriteVerdict.Writable, access.Record)
            : new WriteAccess(WriteVerdict.NotFound, null);

    /// <summary>Whether the requester may read the measurement (owner, admin, share); the live attach of a shared reader asks this.</summary>
    public async Task<bool> MayReadAsync(Requester requester, Guid id, CancellationToken cancellationToken) =>
        await FindWithAccessAsync(requester, id, cancellationToken) is not null;

    /// <summary>
    /// A page of the measurements shared with the requester (read-only; never their own), newest first,
    /// with the share's grant time.
    /// </summary>
    public async Task<MeasurementPage> ListSharedWithAsync(Requester requester, int page, int pageSize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var q = db.Measurements.AsNoTracking()
            .Where(m => m.OwnerId != requester.UserId && db.Shares.Any(s => s.MeasurementId == m.Id && s.UserId == requester.UserId));
        var total = await q.CountAsync(cancellationToken);
        var size = Math.Clamp(pageSize, 1, 200);
        var items = await q.OrderByDescending(m => m.Id).Skip(Math.Max(0, page) * size).Take(size).ToListAsync(cancellationToken);
        items.ForEach(WithSpooledStop);
        return new MeasurementPage(items, total);
    }

    /// <summary>
    /// The search and the filters of <paramref name="query"/>, in SQL on both providers. The search matches the name,
    /// a tag, a metadata entry ("key: value") or an annotation's title or text, ignoring case: tags and metadata carry
    /// a copy folded in .NET; names and annotations use lower(), which SQLite applies to ASCII letters only.
    /// </summary>
    private static IQueryable<MeasurementRecord> Filtered(AppDbContext db, IQueryable<MeasurementRecord> q, MeasurementQuery query)
    {
        if (!string.IsNullOrWhiteSpace(query.Search))
        {
            var s = MeasureApp.Tags.MeasurementLabelService.Fold(query.Search.Trim());
#pragma warning disable CA1862, CA1304, CA1311 // translated to SQL; culture overloads are not
            q = q.Where(m => m.Name.ToLower().Contains(s)
                || db.MeasurementTags.Any(t => t.MeasurementId == m.Id && t.Normalized.Contains(s))
                || db.MeasurementMetadata.Any(x => x.MeasurementId == m.Id && x.Normalized.Contains(s))
                || db.Annotations.Any(a => a.MeasurementId == m.Id && (a.Title.ToLower().Contains(s) || (a.Text != null && a.Text.ToLower().Contains(s)))));
#pragma warning restore CA1862, CA1304, CA1311
        }
        if (!string.IsNullOrWhiteSpace(query.Tag))
        {
            var tag = MeasureApp.Tags.MeasurementLabelService.Fold(query.Tag.Trim());
            q = q.Where(m => db.MeasurementTags.Any(t => t.MeasurementId == m.Id && t.Normalized == tag));
        }
        if (!string.IsNullOrWhiteSpace(query.Device))
        {
            q = q.Where(m => m.DeviceId == query.Device);
        }
        if (query.State is { } state)
        {
            q = q.Where(m => m.State == state);
        }
        // SQLite cannot compare DateTimeOffset columns (stored as text); the Guid v7 id carries the start time in its
        // leading 48 bits, and ids compare in that order on both providers (uuid bytes; upper-case hex text).
        if (query.StartedFrom is { } from)
        {
            var lower = FirstIdAt(from);
            q = q.Where(m => m.Id.CompareTo(lower) >= 0);
        }
        if (query.StartedBefore is { } before)
        {
            var upper = FirstIdAt(before);
            q = q.Where(m => m.Id.CompareTo(upper) < 0);
        }
        return q;
    }

    /// <summary>The smallest version-7 id of millisecond <paramref name="at"/> (clamped to the Unix epoch).</summary>
    internal static Guid FirstIdAt(DateTimeOffset at)
    {
        Span<byte> bytes = stackalloc byte[16];
        var ms = (ulong)Math.Max(0, at.ToUnixTimeMilliseconds());
        for (var i = 0; i < 6; i++)
        {
            bytes[i] = (byte)(ms >> (8 * (5 - i)));
        }
        bytes[6] = 0x70;
        bytes[8] = 0x80;
        return new Guid(bytes, bigEndian: true);
    }

    private void WithSpooledStop(MeasurementRecord row)
    {
        if (row.State != MeasurementState.Stopped && storeWriter?.SpooledFinalState(row.Id) is { } final)
        {
            row.State = final.State;
            row.StopReason = final.StopReason;
            row.StopDetail = final.StopDetail;
            row.StoppedAt = final.StoppedAt;
            row.SampleCount = final.SampleCount;
        }
    }

    // Read access: the owner's, everyone's for an admin, and those shared with the requester.
    private static IQueryable<MeasurementRecord> Readable(AppDbContext db, Requester requester) =>
        requester.IsAdmin ? db.Measurements.AsNoTracking()
            : db.Measurements.AsNoTracking().Where(m => m.OwnerId == requester.UserId || db.Shares.Any(s => s.MeasurementId == m.Id && s.UserId == requester.UserId));

    // Full access (write paths and the owner's lists): the owner's, everyone's for an admin. Shares never count.
    private static IQueryable<MeasurementRecord> Visible(AppDbContext db, Requester requester) =>
        requester.IsAdmin ? db.Measurements.AsNoTracking() : db.Measurements.AsNoTracking().Where(m => m.OwnerId == requester.UserId);
}
