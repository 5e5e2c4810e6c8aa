using MeasureApp.Data;
using Microsoft.AspNetCore.Identity;

namespace MeasureApp.Security;

/// <summary>Refuses the passwords attackers try first (a small embedded list of the most common ones of 8+ characters).</summary>
public sealed class CommonPasswordValidator : IPasswordValidator<AppUser>
{
    private static readonly HashSet<string> Common = new(StringComparer.OrdinalIgnoreCase)
    {
        "password", "password1", "password12", "password123", "password!", "passw0rd", "p@ssw0rd", "p@ssword",
        "12345678", "123456789", "1234567890", "0123456789", "87654321", "11111111", "00000000", "12341234",
        "11223344", "12344321", "123123123", "qwertyui", "qwertyuiop", "qwerty123", "qwerty12", "1q2w3e4r",
        "1q2w3e4r5t", "1qaz2wsx", "zaq12wsx", "asdfghjk", "asdfghjkl", "zxcvbnm1", "iloveyou", "iloveyou1",
        "sunshine", "princess", "football", "baseball", "welcome1", "welcome123", "letmein1", "abcd1234",
        "abc12345", "abcdefgh", "trustno1", "superman", "starwars", "whatever", "computer", "michelle",
        "jennifer", "corvette", "mercedes", "changeme", "changeit", "admin123", "administrator", "adminadmin",
        "master12", "monkey123", "dragon12", "shadow12", "access14", "mustang1", "internet", "samsung1",
        "secret12", "testtest", "test1234", "guest123", "default1", "qwerasdf", "aaaaaaaa", "operator",
        "measureapp", "measure1",
    };

    /// <inheritdoc />
    public Task<IdentityResult> ValidateAsync(UserManager<AppUser> manager, AppUser user, string? password) =>
        Task.FromResult(password is not null && Common.Contains(password)
            ? IdentityResult.Failed(new IdentityError { Code = "CommonPassword", Description = "This password is one of the most common ones; choose another." })
            : IdentityResult.Success);
}
