using System.Security.Claims;
using MeasureApp.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace MeasureApp.Security;

/// <summary>
/// Checks on every authenticated request that the cookie's user still exists and its security stamp is
/// current — one indexed lookup per user, cached for <see cref="CacheFor"/>. Identity's own validator
/// only looks every 30 s and keeps a principal whose user cannot be found; this rejects it at once, so
/// a cookie for a deleted or never-existing user, or one from before a logout, stops working.
/// </summary>
public sealed class PrincipalCheck(IDbContextFactory<AppDbContext> contexts, IMemoryCache cache, IOptions<IdentityOptions> identity)
{
    /// <summary>How long a looked-up stamp is reused.</summary>
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(5);

    /// <summary>True when the principal's user exists and its stamp matches the stored one.</summary>
    public async Task<bool> IsCurrentAsync(ClaimsPrincipal principal, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(principal);
        var claims = identity.Value.ClaimsIdentity;
        var userId = principal.FindFirstValue(claims.UserIdClaimType);
        var stamp = principal.FindFirstValue(claims.SecurityStampClaimType);
        if (string.IsNullOrEmpty(userId) || string.IsNullOrEmpty(stamp))
        {
            return false;
        }
        if (!cache.TryGetValue(CacheKey(userId), out string? stored) || stored is null)
        {
            try
            {
                await using var db = await contexts.CreateDbContextAsync(cancellationToken);
                stored = await db.Users.AsNoTracking().Where(u => u.Id == userId).Select(u => u.SecurityStamp).FirstOrDefaultAsync(cancellationToken) ?? "";
            }
            catch (Exception ex) when (MeasureApp.Storage.DatabaseOutage.IsOutage(ex))
            {
                // Degrade, don't fail: while the database is away the signed cookie stands (the check resumes
                // with the next request once it answers); refusing would log everyone out of a running lab.
                return true;
            }
            cache.Set(CacheKey(userId), stored, new MemoryCacheEntryOptions { AbsoluteExpirationRelativeToNow = CacheFor, Size = 1 });
        }
        return !string.IsNullOrEmpty(stored) && string.Equals(stored, stamp, StringComparison.Ordinal);
    }

    /// <summary>Drops the cached stamp of a user whose stamp this instance just changed.</summary>
    public void Forget(string userId) => cache.Remove(CacheKey(userId));

    private static string CacheKey(string userId) => "measureapp:stamp:" + userId;
}
