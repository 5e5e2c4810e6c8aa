using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using MeasureApp.Presence;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Admin;

/// <summary>A row of the Users page.</summary>
public sealed record UserRow(string Id, string Email, bool IsAdmin, DateTimeOffset CreatedAt, DateTimeOffset? LockedUntil, int OpenSessions);

/// <summary>A page of users.</summary>
public sealed record UserPage(IReadOnlyList<UserRow> Items, int Total);

/// <summary>The outcome of an admin action: null error means done.</summary>
public sealed record AdminResult(string? Error)
{
    public static readonly AdminResult Ok = new((string?)null);
    public bool Succeeded => Error is null;
}

/// <summary>
/// User management for admins. Every method checks the requester's role itself (never only the
/// page). Locking, demoting and deleting change the security stamp, so open circuits lose access at
/// their next revalidation (≤ 30 s); ending sessions also ends the user's open tabs at once.
/// </summary>
public sealed class UserAdminService(UserManager<AppUser> users, IDbContextFactory<AppDbContext> contexts, CircuitRegistry circuits, TimeProvider time, MeasureApp.Security.PrincipalCheck principals)
{
    public async Task<UserPage> ListAsync(Requester requester, string? search, int page, int pageSize, CancellationToken cancellationToken)
    {
        RequireAdmin(requester);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var q = db.Users.AsNoTracking();
        if (!string.IsNullOrWhiteSpace(search))
        {
            var s = search.Trim().ToUpperInvariant();
            q = q.Where(u => u.NormalizedEmail!.Contains(s));
        }
        var total = await q.CountAsync(cancellationToken);
        var size = Math.Clamp(pageSize, 1, 200);
        var rows = await q.OrderBy(u => u.NormalizedEmail).Skip(Math.Max(0, page) * size).Take(size)
            .Select(u => new { u.Id, u.Email, u.CreatedAt, u.LockoutEnd })
            .ToListAsync(cancellationToken);
        var ids = rows.Select(r => r.Id).ToList();
        var adminRoleId = await db.Roles.Where(r => r.Name == Roles.Admin).Select(r => r.Id).FirstOrDefaultAsync(cancellationToken);
        var admins = await db.UserRoles.Where(ur => ur.RoleId == adminRoleId && ids.Contains(ur.UserId)).Select(ur => ur.UserId).ToListAsync(cancellationToken);
        var now = time.GetUtcNow();
        return new UserPage(
            [.. rows.Select(r => new UserRow(r.Id, r.Email ?? r.Id, admins.Contains(r.Id), r.CreatedAt,
                r.LockoutEnd is { } l && l > now ? l : null, circuits.ForUser(r.Id).Count))],
            total);
    }

    public async Task<AdminResult> CreateAsync(Requester requester, string email, string password, bool isAdmin)
    {
        RequireAdmin(requester);
        var user = new AppUser { UserName = email?.Trim(), Email = email?.Trim(), EmailConfirmed = true, CreatedAt = time.GetUtcNow() };
        var created = await users.CreateAsync(user, password ?? "");
        if (!created.Succeeded)
        {
            return new AdminResult(string.Join(" ", created.Errors.Select(e => e.Description)));
        }
        await users.AddToRolesAsync(user, isAdmin ? [Roles.Operator, Roles.Admin] : [Roles.Operator]);
        return AdminResult.Ok;
    }

    public async Task<AdminResult> SetLockedAsync(Requester requester, string userId, bool locked)
    {
        RequireAdmin(requester);
        if (await FindOtherAsync(requester, userId) is not { } user)
        {
            return NotFoundOrSelf(requester, userId);
        }
        await users.SetLockoutEndDateAsync(user, locked ? DateTimeOffset.MaxValue : null);
        if (!locked)
        {
            await users.ResetAccessFailedCountAsync(user);
        }
        await users.UpdateSecurityStampAsync(user);
        principals.Forget(user.Id);
        if (locked)
        {
            circuits.EndSessions(userId);
        }
        return AdminResult.Ok;
    }

    public async Task<AdminResult> SetAdminAsync(Requester requester, string userId, bool isAdmin)
    {
        RequireAdmin(requester);
        if (await FindOtherAsync(requester, userId) is not { } user)
        {
            return NotFoundOrSelf(requester, userId);
        }
        var result = isAdmin ? await users.AddToRoleAsync(user, Roles.Admin) : await users.RemoveFromRoleAsync(user, Roles.Admin);
        if (!result.Succeeded && !result.Errors.Any(e => e.Code is "UserAlreadyInRole" or "UserNotInRole"))
        {
            return new AdminResult(string.Join(" ", result.Errors.Select(e => e.Description)));
        }
        await users.UpdateSecurityStampAsync(user);
        principals.Forget(user.Id);
        return AdminResult.Ok;
    }

    public async Task<AdminResult> DeleteAsync(Requester requester, string userId)
    {
        RequireAdmin(requester);
        if (await FindOtherAsync(requester, userId) is not { } user)
        {
            return NotFoundOrSelf(requester, userId);
        }
        circuits.EndSessions(userId);
        var result = await users.DeleteAsync(user);
        principals.Forget(userId);
        return result.Succeeded ? AdminResult.Ok : new AdminResult(string.Join(" ", result.Errors.Select(e => e.Description)));
    }

    /// <summary>Ends the user's open tabs now and invalidates their cookies.</summary>
    public async Task<(AdminResult Result, int Ended)> EndSessionsAsync(Requester requester, string userId)
    {
        RequireAdmin(requester);
        var user = await users.FindByIdAsync(userId);
        if (user is null)
        {
            return (new AdminResult("User not found."), 0);
        }
        await users.UpdateSecurityStampAsync(user);
        principals.Forget(user.Id);
        return (AdminResult.Ok, circuits.EndSessions(userId));
    }

    private static void RequireAdmin(Requester requester)
    {
        ArgumentNullException.ThrowIfNull(requester);
        if (!requester.IsAdmin)
        {
            throw new UnauthorizedAccessException("Only administrators manage users.");
        }
    }

    // Admins cannot lock, demote or delete themselves: the last admin must not lock everyone out.
    private async Task<AppUser?> FindOtherAsync(Requester requester, string userId) =>
        userId == requester.UserId ? null : await users.FindByIdAsync(userId);

    private static AdminResult NotFoundOrSelf(Requester requester, string userId) =>
        new(userId == requester.UserId ? "You cannot do this to your own account." : "User not found.");
}
