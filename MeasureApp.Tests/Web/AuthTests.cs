using System.Net;
using MeasureApp.Data;
using MeasureApp.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Web;

/// <summary>Login, roles and lockout through real HTTP, once per database provider.</summary>
public abstract class AuthTests(DatabaseProvider provider) : IDisposable
{
    private readonly AppFactory _factory = new(provider, new Dictionary<string, string?> { ["Auth:AllowRegistration"] = "true" });

    [Fact]
    public async Task AnonymousRequestToRootEndsAtTheLoginPage()
    {
        var client = HttpLogin.CreateClient(_factory);

        var response = await client.GetAsync("/");

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.StartsWith("/Account/Login", response.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
        var login = await client.GetStringAsync(response.Headers.Location);
        Assert.Contains("Log in", login, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SeededAdminLogsInAndSeesTheAdminPage()
    {
        var client = await HttpLogin.LoggedInClientAsync(_factory, AppFactory.AdminEmail, AppFactory.AdminPassword);

        var users = await client.GetAsync("/admin/users");

        Assert.Equal(HttpStatusCode.OK, users.StatusCode);
        Assert.Contains(AppFactory.AdminEmail, await users.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OperatorIsRefusedTheAdminPages()
    {
        var user = await Users.CreateOperatorAsync(_factory.Services);
        var client = await HttpLogin.LoggedInClientAsync(_factory, user.Email!, Users.Password);

        var live = await client.GetAsync("/live");

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        foreach (var page in new[] { "/admin/users", "/admin/limits", "/admin/monitor", "/admin/devices" })
        {
            var admin = await client.GetAsync(page);
            Assert.Equal(HttpStatusCode.Redirect, admin.StatusCode);
            Assert.StartsWith("/Account/AccessDenied", admin.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
            var denied = await client.GetAsync(admin.Headers.Location);
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
            Assert.Contains("You do not have access to this page.", await denied.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task WrongPasswordFiveTimesLocksTheAccountOutOfThatAddressWithoutTouchingTheStoredAccount()
    {
        var user = await Users.CreateOperatorAsync(_factory.Services);
        var client = HttpLogin.CreateClient(_factory);

        for (var attempt = 1; attempt <= 5; attempt++)
        {
            var wrong = await HttpLogin.PostLoginAsync(client, user.Email!, "not-the-password");
            if (attempt < 5)
            {
                Assert.Equal(HttpStatusCode.OK, wrong.StatusCode);
                Assert.Contains("Invalid email or password", await wrong.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
        }
        var right = await HttpLogin.PostLoginAsync(client, user.Email!, Users.Password);

        Assert.Equal(HttpStatusCode.Redirect, right.StatusCode);
        Assert.Contains("/Account/Lockout", right.Headers.Location!.ToString(), StringComparison.Ordinal);
        // The lockout belongs to (account, address): the stored account is not locked for everyone.
        await using var scope = _factory.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        var stored = await users.FindByIdAsync(user.Id);
        Assert.False(await users.IsLockedOutAsync(stored!));
    }

    [Fact]
    public async Task ShortPasswordIsRefusedAtRegistration()
    {
        var client = HttpLogin.CreateClient(_factory);
        var token = await HttpLogin.GetFormTokenAsync(client, "/Account/Register");

        var response = await client.PostAsync("/Account/Register", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "register",
            ["__RequestVerificationToken"] = token,
            ["Input.Email"] = "short@test.local",
            ["Input.Password"] = "1234567",
            ["Input.ConfirmPassword"] = "1234567",
        }));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("at least 8 characters", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await using var scope = _factory.Services.CreateAsyncScope();
        Assert.Null(await scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>().FindByEmailAsync("short@test.local"));
    }

    [Fact]
    public async Task HealthEndpointsReportTheDatabase()
    {
        var client = HttpLogin.CreateClient(_factory);

        var live = await client.GetAsync("/health/live");
        var ready = await client.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("Healthy", await ready.Content.ReadAsStringAsync());
    }

    public void Dispose()
    {
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteAuthTests() : AuthTests(DatabaseProvider.Sqlite);

public sealed class PostgresAuthTests() : AuthTests(DatabaseProvider.Postgres);
