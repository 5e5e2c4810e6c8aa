using MeasureApp.Data;
using MeasureApp.Security;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;

namespace MeasureApp.Identity;

/// <summary>Endpoints the static account pages post to.</summary>
public static class AccountEndpoints
{
    /// <summary>Maps POST /Account/Logout.</summary>
    public static IEndpointConventionBuilder MapAccountEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/Account");
        group.MapPost("/Logout", LogoutAsync).RequireAuthorization().DisableAntiforgery();
        return group;
    }

    // The form carries an antiforgery token (a cross-site page cannot log anyone out). Logging out
    // renews the security stamp: every session of this login ends, including copied cookies.
    private static async Task<IResult> LogoutAsync(HttpContext http, [FromServices] IAntiforgery antiforgery,
        [FromServices] SignInManager<AppUser> signIn, [FromServices] UserManager<AppUser> users, [FromServices] PrincipalCheck principals)
    {
        if (!await antiforgery.IsRequestValidAsync(http))
        {
            return TypedResults.Problem(title: "Log out again", detail: "The logout form expired. Reload the page and log out again.", statusCode: StatusCodes.Status400BadRequest);
        }
        if (await users.GetUserAsync(http.User) is { } user)
        {
            await users.UpdateSecurityStampAsync(user);
            principals.Forget(user.Id);
        }
        await signIn.SignOutAsync();
        return TypedResults.LocalRedirect("~/Account/Login");
    }
}
