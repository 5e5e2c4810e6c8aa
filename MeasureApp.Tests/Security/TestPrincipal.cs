using System.Security.Claims;
using MeasureApp.Data;
using Microsoft.AspNetCore.Components.Authorization;

namespace MeasureApp.Tests.Security;

/// <summary>A fixed logged-in user for services and components that ask the <see cref="AuthenticationStateProvider"/>.</summary>
public sealed class TestPrincipal(ClaimsPrincipal user) : AuthenticationStateProvider
{
    public TestPrincipal(string userId, string userName, bool isAdmin)
        : this(Create(userId, userName, isAdmin))
    {
    }

    public override Task<AuthenticationState> GetAuthenticationStateAsync() => Task.FromResult(new AuthenticationState(user));

    /// <summary>An authenticated principal with the claims the app's cookie carries (id, name, roles).</summary>
    public static ClaimsPrincipal Create(string userId, string userName, bool isAdmin)
    {
        List<Claim> claims = [new(ClaimTypes.NameIdentifier, userId), new(ClaimTypes.Name, userName), new(ClaimTypes.Role, Roles.Operator)];
        if (isAdmin)
        {
            claims.Add(new Claim(ClaimTypes.Role, Roles.Admin));
        }
        return new ClaimsPrincipal(new ClaimsIdentity(claims, "test"));
    }
}
