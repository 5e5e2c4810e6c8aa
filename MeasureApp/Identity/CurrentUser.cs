using System.Security.Claims;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using Microsoft.AspNetCore.Components.Authorization;

namespace MeasureApp.Identity;

/// <summary>The circuit's user as the engine's <see cref="Requester"/> (ownership checks happen in services).</summary>
public sealed class CurrentUser(AuthenticationStateProvider auth)
{
    /// <summary>The logged-in requester; throws when nobody is logged in.</summary>
    public async Task<Requester> GetAsync()
    {
        var state = await auth.GetAuthenticationStateAsync();
        return FromPrincipal(state.User) ?? throw new UnauthorizedAccessException("Not logged in.");
    }

    /// <summary>Builds a requester from a principal, or null when anonymous.</summary>
    public static Requester? FromPrincipal(ClaimsPrincipal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        var id = principal.FindFirstValue(ClaimTypes.NameIdentifier);
        if (principal.Identity?.IsAuthenticated != true || string.IsNullOrEmpty(id))
        {
            return null;
        }
        return new Requester(id, principal.Identity.Name ?? id, principal.IsInRole(Roles.Admin));
    }
}
