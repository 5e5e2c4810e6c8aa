using System.Collections.Concurrent;
using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Collectors;

/// <summary>A stored collector token: only the SHA-256 of the secret is kept (the secret is shown once).</summary>
public sealed class CollectorTokenRecord
{
    public Guid Id { get; set; }
    public required string UserId { get; set; }
    public required string Name { get; set; }
    /// <summary>SHA-256 of the 32-byte secret (<see cref="CollectorTokenSecrets.Hash"/>).</summary>
    public required byte[] Hash { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? LastUsedAt { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
}

/// <summary>One token as the Collectors page and the API list it (never the secret or its hash).</summary>
public sealed record CollectorTokenInfo(Guid Id, string Name, string OwnerId, string OwnerName, DateTimeOffset CreatedAt,
    DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt)
{
    /// <summary>False once revoked.</summary>
    public bool Active => RevokedAt is null;
}

/// <summary>A token just created: the secret is returned this once.</summary>
public sealed record CreatedCollectorToken(Guid Id, string Name, string Token);

/// <summary>
/// Collector tokens in the database, so every instance (one shared database) knows every token and a
/// revocation reaches all of them. The Network driver resolves through <see cref="ICollectorTokens"/>;
/// the Collectors page and <c>/api/collector-tokens</c> use the methods that take a <see cref="Requester"/>,
/// which decide ownership here: operators see and revoke their own tokens, admins everyone's, and a
/// foreign id answers like an unknown one.
/// </summary>
/// <remarks>
/// A token of a locked-out user resolves to nobody while the lockout lasts; a deleted user's tokens go
/// with the user (cascade). "Last used" is written at most once a minute per token, because the driver
/// re-resolves a busy token every few seconds to notice revocations.
/// </remarks>
public sealed class CollectorTokenStore(IDbContextFactory<AppDbContext> contexts, TimeProvider time) : ICollectorTokens
{
    /// <summary>Longest token name.</summary>
    public const int MaxNameLength = 100;

    private static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<Guid, DateTimeOffset> _lastUsedWritten = new();

    /// <inheritdoc />
    public async ValueTask<string?> ResolveAsync(ReadOnlyMemory<byte> token, CancellationToken cancellationToken)
    {
        if (token.Length != 32)
        {
            return null;
        }
        var hash = CollectorTokenSecrets.Hash(token.Span);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        // Equality on the indexed hash: the secret has 256 random bits, so the lookup's timing tells a guesser nothing.
        var found = await db.CollectorTokens.AsNoTracking()
            .Where(t => t.Hash == hash && t.RevokedAt == null)
            .Join(db.Users, t => t.UserId, u => u.Id, (t, u) => new { t.Id, t.UserId, u.LockoutEnd })
            .FirstOrDefaultAsync(cancellationToken);
        var now = time.GetUtcNow();
        if (found is null || found.LockoutEnd > now)
        {
            return null;
        }
        if (!_lastUsedWritten.TryGetValue(found.Id, out var written) || now - written >= LastUsedResolution)
        {
            _lastUsedWritten[found.Id] = now;
            await db.CollectorTokens.Where(t => t.Id == found.Id).ExecuteUpdateAsync(s => s.SetProperty(t => t.LastUsedAt, now), cancellationToken);
        }
        return found.UserId;
    }

    /// <inheritdoc />
    public async ValueTask<IssuedCollectorToken> IssueAsync(string userId, CancellationToken cancellationToken)
    {
        var (record, secret) = await AddAsync(userId, "collector", cancellationToken);
        return new IssuedCollectorToken(record.Id, secret);
    }

    /// <inheritdoc />
    public async ValueTask<bool> RevokeAsync(string userId, Guid tokenId, CancellationToken cancellationToken) =>
        await RevokeAsync(new Requester(userId, userId, IsAdmin: false), tokenId, cancellationToken);

    /// <summary>Creates a named token for the requester; the returned secret is not stored and cannot be shown again.</summary>
    public async Task<CreatedCollectorToken> CreateAsync(Requester me, string name, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(me);
        var (record, secret) = await AddAsync(me.UserId, NormalizeName(name), cancellationToken);
        return new CreatedCollectorToken(record.Id, record.Name, Convert.ToHexStringLower(secret));
    }

    /// <summary>The requester's tokens (admins: everyone's), newest first, revoked ones included.</summary>
    public async Task<IReadOnlyList<CollectorTokenInfo>> ListAsync(Requester me, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(me);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = db.CollectorTokens.AsNoTracking();
        if (!me.IsAdmin)
        {
            query = query.Where(t => t.UserId == me.UserId);
        }
        var rows = await query
            .Join(db.Users, t => t.UserId, u => u.Id, (t, u) => new { Token = t, OwnerName = u.UserName })
            .OrderByDescending(x => x.Token.Id) // version 7 ids: newest first
            .Take(1000)
            .ToListAsync(cancellationToken);
        return [.. rows.Select(r => new CollectorTokenInfo(r.Token.Id, r.Token.Name, r.Token.UserId, r.OwnerName ?? r.Token.UserId,
            r.Token.CreatedAt, r.Token.LastUsedAt, r.Token.RevokedAt))];
    }

    /// <summary>
    /// Revokes a token of the requester (admins: anyone's). False when there is no such active token
    /// for the requester: unknown, foreign and already revoked ids look the same.
    /// </summary>
    public async Task<bool> RevokeAsync(Requester me, Guid tokenId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(me);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = db.CollectorTokens.Where(t => t.Id == tokenId && t.RevokedAt == null);
        if (!me.IsAdmin)
        {
            query = query.Where(t => t.UserId == me.UserId);
        }
        var now = time.GetUtcNow();
        return await query.ExecuteUpdateAsync(s => s.SetProperty(t => t.RevokedAt, now), cancellationToken) > 0;
    }

    /// <summary>A token name trimmed, or null when it is empty or too long.</summary>
    public static string? ValidName(string? name)
    {
        var trimmed = name?.Trim();
        return string.IsNullOrEmpty(trimmed) || trimmed.Length > MaxNameLength || trimmed.Any(char.IsControl) ? null : trimmed;
    }

    private static string NormalizeName(string name) =>
        ValidName(name) ?? throw new ArgumentException($"A token name needs 1 to {MaxNameLength} characters and no line breaks.", nameof(name));

    private async Task<(CollectorTokenRecord Record, byte[] Secret)> AddAsync(string userId, string name, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        var secret = CollectorTokenSecrets.Create();
        var record = new CollectorTokenRecord
        {
            Id = Guid.CreateVersion7(),
            UserId = userId,
            Name = name,
            Hash = CollectorTokenSecrets.Hash(secret),
            CreatedAt = time.GetUtcNow(),
        };
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        db.CollectorTokens.Add(record);
        await db.SaveChangesAsync(cancellationToken);
        return (record, secret);
    }
}
