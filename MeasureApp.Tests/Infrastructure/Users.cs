using MeasureApp.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Infrastructure;

/// <summary>Creates users through the app's own UserManager.</summary>
public static class Users
{
    public const string Password = "operator-pass";

    public static async Task<AppUser> CreateOperatorAsync(IServiceProvider services, string? email = null)
    {
        await using var scope = services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        var user = new AppUser { UserName = email ?? $"op-{Guid.NewGuid():N}@test.local", CreatedAt = DateTimeOffset.UtcNow };
        user.Email = user.UserName;
        var result = await users.CreateAsync(user, Password);
        Assert.True(result.Succeeded, string.Join(" ", result.Errors.Select(e => e.Description)));
        await users.AddToRoleAsync(user, Roles.Operator);
        return user;
    }
}
