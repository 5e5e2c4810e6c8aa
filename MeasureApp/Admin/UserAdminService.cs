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
/// their next revalidation (<c>Auth:RevalidationSeconds</c>); ending sessions also ends the user's open tabs at once.
/// </summary>
/// <remarks>
/// Each operation runs Identity in a DI scope of its own (a fresh <see cref="UserManager{TUser}"/> and
/// DbContext): a context that lived as long as the admin's tab served stale users, so a lock after
/// another admin's change failed on the concurrency stamp. Every <see cref="IdentityResult"/> is checked
/// and a failure reaches the page as the operation's error.
/// </remarks>
public sealed class UserAdminService(IServiceScopeFactory scopes, IDbContextFactory<AppDbContext> contexts, CircuitRegistry circuits, TimeProvider time, MeasureApp.Security.PrincipalCheck principals,
    MeasureApp.Audit.AuditLog? audit = null)
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
        await using var scope = scopes.CreateAsyncScope();
        var users = Users(scope);
        var user = new AppUser { UserName = email?.Trim(), Email = email?.Trim(), EmailConfirmed = true, CreatedAt = time.GetUtcNow() };
        var created = await users.CreateAsync(user, password ?? "");
        if (!created.Succeeded)
        {
            return new AdminResult(string.Join(" ", created.Errors.Select(e => e.Description)));
        }
        return Checked(await users.AddToRolesAsync(user, isAdmin ? [Roles.Operator, Roles.Admin] : [Roles.Operator]));
    }

    public async Task<AdminResult> SetLockedAsync(Requester requester, string userId, bool locked)
    {
        RequireAdmin(requester);
        await using var scope = scopes.CreateAsyncScope();
        var users = Users(scope);
        if (await FindOtherAsync(users, requester, userId) is not { } user)
        {
            return NotFoundOrSelf(requester, userId);
        }
        if (Failed(await users.SetLockoutEndDateAsync(user, locked ? DateTimeOffset.MaxValue : null)) is { } lockFailed)
        {
            return lockFailed;
        }
        if (!locked && Failed(await users.ResetAccessFailedCountAsync(user)) is { } resetFailed)
        {
            return resetFailed;
        }
        if (Failed(await users.UpdateSecurityStampAsync(user)) is { } stampFailed)
        {
            return stampFailed;
        }
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
        await using var scope = scopes.CreateAsyncScope();
        var users = Users(scope);
        if (await FindOtherAsync(users, requester, userId) is not { } user)
        {
            return NotFoundOrSelf(requester, userId);
        }
        var result = isAdmin ? await users.AddToRoleAsync(user, Roles.Admin) : await users.RemoveFromRoleAsync(user, Roles.Admin);
        if (!result.Succeeded && !result.Errors.Any(e => e.Code is "UserAlreadyInRole" or "UserNotInRole"))
        {
            return Checked(result);
        }
        var stamped = Checked(await users.UpdateSecurityStampAsync(user));
        principals.Forget(user.Id);
        if (result.Succeeded && audit is not null)
        {
            await audit.WriteAsync(requester, MeasureApp.Audit.AuditActions.Role, targetUserId: user.Id, targetUserName: user.Email, detail: isAdmin ? "made admin" : "admin role removed");
        }
        return stamped;
    }

    public async Task<AdminResult> DeleteAsync(Requester requester, string userId)
    {
        RequireAdmin(requester);
        await using var scope = scopes.CreateAsyncScope();
        var users = Users(scope);
        if (await FindOtherAsync(users, requester, userId) is not { } user)
        {
            return NotFoundOrSelf(requester, userId);
        }
        circuits.EndSessions(userId);
        var deleted = Checked(await users.DeleteAsync(user));
        principals.Forget(userId);
        return deleted;
    }

    /// <summary>Ends the user's open tabs now and invalidates their cookies.</summary>
    public async Task<(AdminResult Result, int Ended)> EndSessionsAsync(Requester requester, string userId)
    {
        RequireAdmin(requester);
        await using var scope = scopes.CreateAsyncScope();
        var users = Users(scope);
        var user = await users.FindByIdAsync(userId);
        if (user is null)
        {
            return (new AdminResult("User not found."), 0);
        }
        // The tabs end even when the stamp could not be changed; the error says their cookies still work.
        var ended = circuits.EndSessions(userId);
        var stamped = Checked(await users.UpdateSecurityStampAsync(user));
        principals.Forget(user.Id);
        return (stamped, ended);
    }

    private static void RequireAdmin(Requester requester)
    {
        ArgumentNullException.ThrowIfNull(requester);
        if (!requester.IsAdmin)
        {
            throw new UnauthorizedAccessException("Only administrators manage users.");
        }
    }

    private static UserManager<AppUser> Users(AsyncServiceScope scope) => scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();

    private static AdminResult Checked(IdentityResult result) => Failed(result) ?? AdminResult.Ok;

    private static AdminResult? Failed(IdentityResult result) =>
        result.Succeeded ? null : new AdminResult(string.Join(" ", result.Errors.Select(e => e.Description)) is { Length: > 0 } text ? text : "The change was not saved.");

    // Admins cannot lock, demote or delete themselves: the last admin must not lock everyone out.
    private static async Task<AppUser?> FindOtherAsync(UserManager<AppUser> users, Requester requester, string userId) =>
        userId == requester.UserId ? null : await users.FindByIdAsync(userId);

    private static AdminResult NotFoundOrSelf(Requester requester, string userId) =>
        new(userId == requester.UserId ? "You cannot do this to your own account." : "User not found.");
}
