using System.Buffers.Binary;
using System.Security.Cryptography;

namespace MeasureApp.Acquisition.Coordination;

/// <summary>
/// Collector tokens: a user issues one for a remote collector (a field PC, a microcontroller), and the
/// Network driver maps the token a collector presents to that user, who is the only one whose
/// measurements the collector may feed. <see cref="InMemoryCollectorTokens"/> serves a host without a
/// database (tests, the engine alone); the web app registers its database-backed store instead, so
/// tokens survive restarts and every instance knows them — users create, list and revoke theirs on the
/// Collectors page (or <c>/api/collector-tokens</c>). The driver resolves once per TCP connection,
/// re-checks every <c>TokenRecheckSeconds</c> (default 5) of the device and caches results that long
/// for UDP, so an implementation may do I/O here.
/// </summary>
public interface ICollectorTokens
{
    /// <summary>The user a token belongs to, or null when it is unknown or revoked (or not 32 bytes long).</summary>
    ValueTask<string?> ResolveAsync(ReadOnlyMemory<byte> token, CancellationToken cancellationToken);

    /// <summary>Creates a token for <paramref name="userId"/>. The secret is returned only here; only its hash is kept.</summary>
    ValueTask<IssuedCollectorToken> IssueAsync(string userId, CancellationToken cancellationToken);

    /// <summary>Revokes one of the user's tokens; false when the user has no token with that id.</summary>
    ValueTask<bool> RevokeAsync(string userId, Guid tokenId, CancellationToken cancellationToken);
}

/// <summary>A freshly issued collector token.</summary>
/// <param name="Id">Names the token for listing and revoking (not secret).</param>
/// <param name="Secret">32 random bytes the collector presents; shown to the user once.</param>
public sealed record IssuedCollectorToken(Guid Id, byte[] Secret)
{
    /// <summary>The secret as 64 lowercase hex digits, the form the command-line collector takes.</summary>
    public string Hex => Convert.ToHexStringLower(Secret);
}

/// <summary>How tokens are made and stored, shared by every <see cref="ICollectorTokens"/> implementation.</summary>
public static class CollectorTokenSecrets
{
    /// <summary>A new secret: 32 bytes from the system's cryptographic generator.</summary>
    public static byte[] Create() => RandomNumberGenerator.GetBytes(32);

    /// <summary>
    /// The SHA-256 of a secret: what a store keeps, so a leaked table does not give usable tokens.
    /// A plain hash is enough because the secret is 256 random bits, not a password.
    /// </summary>
    public static byte[] Hash(ReadOnlySpan<byte> secret) => SHA256.HashData(secret);
}

/// <summary>
/// Single-instance token store: SHA-256 hashes in memory, looked up by their first 8 bytes and then
/// compared in constant time, so response timing says nothing about how close a guess was.
/// </summary>
public sealed class InMemoryCollectorTokens : ICollectorTokens
{
    private readonly Lock _gate = new();
    private readonly Dictionary<ulong, List<Entry>> _byHashPrefix = [];

    /// <inheritdoc />
    public ValueTask<string?> ResolveAsync(ReadOnlyMemory<byte> token, CancellationToken cancellationToken)
    {
        if (token.Length != 32)
        {
            return ValueTask.FromResult<string?>(null);
        }
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(token.Span, hash);
        lock (_gate)
        {
            if (_byHashPrefix.TryGetValue(BinaryPrimitives.ReadUInt64LittleEndian(hash), out var entries))
            {
                foreach (var e in entries)
                {
                    if (CryptographicOperations.FixedTimeEquals(e.Hash, hash))
                    {
                        return ValueTask.FromResult<string?>(e.UserId);
                    }
                }
            }
        }
        return ValueTask.FromResult<string?>(null);
    }

    /// <inheritdoc />
    public ValueTask<IssuedCollectorToken> IssueAsync(string userId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        var secret = CollectorTokenSecrets.Create();
        var entry = new Entry(Guid.CreateVersion7(), userId, CollectorTokenSecrets.Hash(secret));
        lock (_gate)
        {
            var key = BinaryPrimitives.ReadUInt64LittleEndian(entry.Hash);
            if (!_byHashPrefix.TryGetValue(key, out var entries))
            {
                _byHashPrefix[key] = entries = [];
            }
            entries.Add(entry);
        }
        return ValueTask.FromResult(new IssuedCollectorToken(entry.Id, secret));
    }

    /// <inheritdoc />
    public ValueTask<bool> RevokeAsync(string userId, Guid tokenId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            foreach (var (key, entries) in _byHashPrefix)
            {
                if (entries.RemoveAll(e => e.Id == tokenId && string.Equals(e.UserId, userId, StringComparison.Ordinal)) > 0)
                {
                    if (entries.Count == 0)
                    {
                        _byHashPrefix.Remove(key);
                    }
                    return ValueTask.FromResult(true);
                }
            }
        }
        return ValueTask.FromResult(false);
    }

    private sealed record Entry(Guid Id, string UserId, byte[] Hash);
}
