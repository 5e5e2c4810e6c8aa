using MeasureApp.Acquisition.Measurements;
using MeasureApp.Audit;
using MeasureApp.Data;
using MeasureApp.History;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Sharing;

/// <summary>Who may read a measurement through a share.</summary>
/// <param name="UserId">The grantee's user id.</param>
/// <param name="Email">The grantee's e-mail.</param>
/// <param name="GrantedAt">When it was shared.</param>
/// <param name="GrantedBy">Who shared it (e-mail).</param>
public sealed record ShareInfo(string UserId, string Email, DateTimeOffset GrantedAt, string GrantedBy);

/// <summary>How a share request went.</summary>
public enum ShareOutcome
{
    /// <summary>Done (a new share, or the list).</summary>
    Ok,
    /// <summary>The share existed already: nothing changed.</summary>
    Unchanged,
    /// <summary>The measurement is unknown or invisible to the requester (answered like an unknown id).</summary>
    NotFound,
    /// <summary>The requester only reads it through a share: no re-sharing, no list of who else has access.</summary>
    ReadOnly,
    /// <summary>The e-mail is refused; the message says why.</summary>
    Invalid,
    /// <summary>Revoke of an e-mail the measurement is not shared with.</summary>
    NotShared,
}

/// <summary>Outcome of a share request; <see cref="Message"/> explains a refusal.</summary>
public sealed record ShareResult(ShareOutcome Outcome, ShareInfo? Share = null, IReadOnlyList<ShareInfo>? Shares = null, string? Message = null);

/// <summary>
/// Read-only sharing of a measurement with named users. The owner (or an admin) shares by e-mail, lists and
/// revokes; a grantee reads (the catalog's <see cref="MeasurementCatalog.FindReadableAsync"/>) and never writes.
/// Every call first asks <see cref="MeasurementCatalog.FindWritableAsync"/>, so an unrelated user's guess
/// answers exactly like an unknown id, and a grantee asking to share on gets <see cref="ShareOutcome.ReadOnly"/>.
/// A revoke ends the grantee's open tabs at once (<see cref="ShareRevocations"/>). Shares, unshares are audited.
/// </summary>
/// <remarks>
/// Sharing with an e-mail that has no account answers "No user has the e-mail …": this tells a logged-in
/// user whether a colleague has an account. That is accepted on purpose — the caller must be logged in and
/// own a measurement, the people of one lab know each other's addresses, and a silent success would let an
/// owner believe a colleague had access who has none. Anonymous callers learn nothing (401).
/// </remarks>
public sealed class ShareService(IDbContextFactory<AppDbContext> contexts, MeasurementCatalog catalog, ShareRevocations revocations, AuditLog audit, TimeProvider time)
{
    /// <summary>Longest e-mail accepted.</summary>
    public const int MaxEmailLength = 256;

    /// <summary>Most users one measurement is shared with.</summary>
    public const int MaxSharesPerMeasurement = 200;

    /// <summary>Who may read the measurement through a share (the owner and admins only).</summary>
    public async Task<ShareResult> ListAsync(Requester requester, Guid measurementId, CancellationToken cancellationToken)
    {
        if ((await AccessAsync(requester, measurementId, cancellationToken)).Refused is { } refused)
        {
            return refused;
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return new ShareResult(ShareOutcome.Ok, Shares: await SharesAsync(db, measurementId, cancellationToken));
    }

    /// <summary>Shares the measurement read-only with the user who has <paramref name="email"/>.</summary>
    public async Task<ShareResult> ShareAsync(Requester requester, Guid measurementId, string? email, CancellationToken cancellationToken)
    {
        var (refused, record) = await AccessAsync(requester, measurementId, cancellationToken);
        if (refused is not null)
        {
            return refused;
        }
        var trimmed = email?.Trim() ?? "";
        if (trimmed.Length == 0 || trimmed.Length > MaxEmailLength || !trimmed.Contains('@', StringComparison.Ordinal) || trimmed.Any(char.IsControl))
        {
            return new ShareResult(ShareOutcome.Invalid, Message: "Give the e-mail address of the user to share with.");
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var normalized = trimmed.ToUpperInvariant();
        var user = await db.Users.AsNoTracking().Where(u => u.NormalizedEmail == normalized).Select(u => new { u.Id, u.Email }).FirstOrDefaultAsync(cancellationToken);
        if (user is null)
        {
            return new ShareResult(ShareOutcome.Invalid, Message: $"No user has the e-mail {trimmed}. They must have an account first.");
        }
        if (string.Equals(user.Id, record!.OwnerId, StringComparison.Ordinal))
        {
            return new ShareResult(ShareOutcome.Invalid, Message: $"{user.Email} owns this measurement already.");
        }
        var existing = await db.Shares.AsNoTracking().FirstOrDefaultAsync(s => s.MeasurementId == measurementId && s.UserId == user.Id, cancellationToken);
        if (existing is not null)
        {
            return new ShareResult(ShareOutcome.Unchanged, (await SharesAsync(db, measurementId, cancellationToken)).First(s => s.UserId == user.Id));
        }
        if (await db.Shares.CountAsync(s => s.MeasurementId == measurementId, cancellationToken) >= MaxSharesPerMeasurement)
        {
            return new ShareResult(ShareOutcome.Invalid, Message: $"This measurement is shared with {MaxSharesPerMeasurement} users already, the most it may be.");
        }
        var share = new MeasurementShareRecord { MeasurementId = measurementId, UserId = user.Id, GrantedAt = time.GetUtcNow(), GrantedById = requester.UserId };
        db.Shares.Add(share);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            // Two owners' tabs shared at once: the other one won, the outcome is the same.
            await using var again = await contexts.CreateDbContextAsync(cancellationToken);
            if (!await again.Shares.AsNoTracking().AnyAsync(s => s.MeasurementId == measurementId && s.UserId == user.Id, cancellationToken))
            {
                throw;
            }
            return new ShareResult(ShareOutcome.Unchanged, new ShareInfo(user.Id, user.Email ?? trimmed, share.GrantedAt, requester.UserName));
        }
        await audit.WriteAsync(requester, AuditActions.Share, measurementId, record.Name, user.Id, user.Email);
        return new ShareResult(ShareOutcome.Ok, new ShareInfo(user.Id, user.Email ?? trimmed, share.GrantedAt, requester.UserName));
    }

    /// <summary>Ends the share of the user with <paramref name="email"/>: their open tabs lose the measurement at once.</summary>
    public async Task<ShareResult> RevokeAsync(Requester requester, Guid measurementId, string? email, CancellationToken cancellationToken)
    {
        var (refused, record) = await AccessAsync(requester, measurementId, cancellationToken);
        if (refused is not null)
        {
            return refused;
        }
        var normalized = (email ?? "").Trim().ToUpperInvariant();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var user = await db.Users.AsNoTracking().Where(u => u.NormalizedEmail == normalized).Select(u => new { u.Id, u.Email }).FirstOrDefaultAsync(cancellationToken);
        var removed = user is null ? 0 : await db.Shares.Where(s => s.MeasurementId == measurementId && s.UserId == user.Id).ExecuteDeleteAsync(cancellationToken);
        if (removed == 0)
        {
            return new ShareResult(ShareOutcome.NotShared, Message: $"This measurement is not shared with {email?.Trim()}.");
        }
        revocations.Revoked(measurementId, user!.Id);
        await audit.WriteAsync(requester, AuditActions.Unshare, measurementId, record!.Name, user.Id, user.Email);
        return new ShareResult(ShareOutcome.Ok);
    }

    private static ShareResult ReadOnly { get; } = new(ShareOutcome.ReadOnly,
        Message: "This measurement is shared with you read-only: only its owner or an admin shares it or sees who has access.");

    // Sharing, unsharing and the list of who has access are the owner's or an admin's: the catalog's write verdict.
    private async Task<(ShareResult? Refused, MeasurementRecord? Record)> AccessAsync(Requester requester, Guid measurementId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        var access = await catalog.FindWritableAsync(requester, measurementId, cancellationToken);
        return access.Verdict switch
        {
            WriteVerdict.Writable => (null, access.Record),
            WriteVerdict.ReadOnly => (ReadOnly, null),
            _ => (new ShareResult(ShareOutcome.NotFound), null),
        };
    }

    private static async Task<IReadOnlyList<ShareInfo>> SharesAsync(AppDbContext db, Guid measurementId, CancellationToken cancellationToken)
    {
        var rows = await (from s in db.Shares.AsNoTracking()
                          where s.MeasurementId == measurementId
                          join u in db.Users on s.UserId equals u.Id
                          join g in db.Users on s.GrantedById equals g.Id into granters
                          from g in granters.DefaultIfEmpty()
                          select new { s.UserId, u.Email, s.GrantedAt, GrantedBy = g == null ? null : g.Email }).ToListAsync(cancellationToken);
        return [.. rows.OrderBy(r => r.Email, StringComparer.OrdinalIgnoreCase).Select(r => new ShareInfo(r.UserId, r.Email ?? r.UserId, r.GrantedAt, r.GrantedBy ?? "(deleted user)"))];
    }
}
