using System.Security.Claims;
using MeasureApp.Data;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace MeasureApp.Identity;

/// <summary>
/// Re-checks the user of an open circuit every <see cref="AuthOptions.RevalidationSeconds"/>:
/// deleted, locked, changed security stamp or changed roles all end the circuit's login.
/// </summary>
internal sealed class RevalidatingIdentityStateProvider(
    ILoggerFactory loggerFactory,
    IServiceScopeFactory scopeFactory,
    IOptions<IdentityOptions> identityOptions,
    IOptions<AuthOptions> authOptions)
    : RevalidatingServerAuthenticationStateProvider(loggerFactory)
{
    protected override TimeSpan RevalidationInterval => TimeSpan.FromSeconds(authOptions.Value.RevalidationSeconds);

    protected override async Task<bool> ValidateAuthenticationStateAsync(AuthenticationState authenticationState, CancellationToken cancellationToken)
    {
        await using var scope = scopeFactory.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        try
        {
            return await IsStillValidAsync(users, identityOptions.Value, authenticationState.User);
        }
        catch (Exception ex) when (MeasureApp.Storage.DatabaseOutage.IsOutage(ex))
        {
            // The base class would log the tab out on an exception; an outage is no reason to. Checked again next round.
            return true;
        }
    }

    /// <summary>True while the principal still matches the stored user (stamp, lock, roles).</summary>
    internal static async Task<bool> IsStillValidAsync(UserManager<AppUser> users, IdentityOptions options, ClaimsPrincipal principal)
    {
        var user = await users.GetUserAsync(principal);
        if (user is null || await users.IsLockedOutAsync(user))
        {
            return false;
        }
        var stamp = principal.FindFirstValue(options.ClaimsIdentity.SecurityStampClaimType);
        if (users.SupportsUserSecurityStamp && stamp != await users.GetSecurityStampAsync(user))
        {
            return false;
        }
        var claimed = principal.FindAll(options.ClaimsIdentity.RoleClaimType).Select(c => c.Value).ToHashSet(StringComparer.Ordinal);
        var current = await users.GetRolesAsync(user);
        return claimed.SetEquals(current);
    }
}
