using System.Security.Claims;
using MeasureApp.Data;
using MeasureApp.Identity;
using MeasureApp.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MeasureApp.Tests.Web;

/// <summary>What an open circuit re-checks every 30 s: lock, delete, demotion, security stamp.</summary>
public sealed class RevalidationTests : IDisposable
{
    private readonly AppFactory _factory = new(DatabaseProvider.Sqlite);

    [Fact]
    public async Task AnUnchangedUserStaysValid()
    {
        var (users, options, principal, _) = await SignedInOperatorAsync();

        Assert.True(await RevalidatingIdentityStateProvider.IsStillValidAsync(users, options, principal));
    }

    [Fact]
    public async Task ALockedUserLosesAccess()
    {
        var (users, options, principal, user) = await SignedInOperatorAsync();

        await users.SetLockoutEndDateAsync(user, DateTimeOffset.UtcNow.AddHours(1));

        Assert.False(await RevalidatingIdentityStateProvider.IsStillValidAsync(users, options, principal));
    }

    [Fact]
    public async Task ADemotedAdminLosesAccess()
    {
        var (users, options, principal, user) = await SignedInOperatorAsync(Roles.Admin);

        await users.RemoveFromRoleAsync(user, Roles.Admin);

        Assert.False(await RevalidatingIdentityStateProvider.IsStillValidAsync(users, options, principal));
    }

    [Fact]
    public async Task ADeletedUserLosesAccess()
    {
        var (users, options, principal, user) = await SignedInOperatorAsync();

        await users.DeleteAsync(user);

        Assert.False(await RevalidatingIdentityStateProvider.IsStillValidAsync(users, options, principal));
    }

    [Fact]
    public async Task ANewSecurityStampEndsOpenSessions()
    {
        var (users, options, principal, user) = await SignedInOperatorAsync();

        await users.UpdateSecurityStampAsync(user);

        Assert.False(await RevalidatingIdentityStateProvider.IsStillValidAsync(users, options, principal));
    }

    private async Task<(UserManager<AppUser> Users, IdentityOptions Options, ClaimsPrincipal Principal, AppUser User)> SignedInOperatorAsync(string? extraRole = null)
    {
        var created = await Users.CreateOperatorAsync(_factory.Services);
        var scope = _factory.Services.CreateScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        var user = (await users.FindByIdAsync(created.Id))!;
        if (extraRole is not null)
        {
            await users.AddToRoleAsync(user, extraRole);
        }
        // The same principal the login cookie carries.
        var principal = await scope.ServiceProvider.GetRequiredService<IUserClaimsPrincipalFactory<AppUser>>().CreateAsync(user);
        return (users, scope.ServiceProvider.GetRequiredService<IOptions<IdentityOptions>>().Value, principal, user);
    }

    public void Dispose() => _factory.Dispose();
}
