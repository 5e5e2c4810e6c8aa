using System.Reflection;
using Bunit;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Admin;
using MeasureApp.Data;
using MeasureApp.Identity;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using UsersPage = MeasureApp.Components.Pages.Admin.Users;

namespace MeasureApp.Tests.Components;

/// <summary>
/// The Users admin page rendered with bUnit against the real <see cref="UserAdminService"/> on a fresh
/// database: list and search, create with validation messages, lock/unlock and role change reach the
/// user store; the page is admin-only and the service refuses an operator.
/// </summary>
public sealed class UsersPageTests : MudTestContext
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly AppFactory _factory = new(DatabaseProvider.Sqlite);
    private AsyncServiceScope? _scope;

    [Fact]
    public async Task ListsUsersAndTheSearchNarrowsTheList()
    {
        var tag = Guid.NewGuid().ToString("N")[..6];
        var a = await Infrastructure.Users.CreateOperatorAsync(_factory.Services, $"findme-{tag}-a@test.local");
        var b = await Infrastructure.Users.CreateOperatorAsync(_factory.Services, $"findme-{tag}-b@test.local");
        var other = await Infrastructure.Users.CreateOperatorAsync(_factory.Services, $"someone-{tag}@test.local");
        var page = await RenderAsAdminAsync();

        page.WaitForAssertion(() =>
        {
            var text = page.Find("#users-table").TextContent;
            Assert.Contains(a.Email!, text, StringComparison.Ordinal);
            Assert.Contains(b.Email!, text, StringComparison.Ordinal);
            Assert.Contains(other.Email!, text, StringComparison.Ordinal);
            Assert.Contains(AppFactory.AdminEmail, text, StringComparison.Ordinal);
        }, Wait);

        page.Find("#user-search").Input($"FINDME-{tag}");

        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("#users-table tbody tr").Count), Wait);
        var rows = page.Find("#users-table tbody").TextContent;
        Assert.Contains(a.Email!, rows, StringComparison.Ordinal);
        Assert.Contains(b.Email!, rows, StringComparison.Ordinal);
        Assert.DoesNotContain(other.Email!, rows, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateShowsTheValidationMessagesAndCreatesNothingUntilTheInputIsValid()
    {
        var page = await RenderAsAdminAsync();
        var users = _scope!.Value.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        var before = users.Users.Count();

        // Identity checks the password first, then the user: each refusal names what is wrong.
        page.Find("#new-email input, input#new-email").Change("not-an-email");
        page.Find("#new-password input, input#new-password").Change("short");
        page.Find("#create-user").Click();
        page.WaitForAssertion(() => Assert.Contains("Passwords must be at least 8 characters.", page.Find("#create-error").TextContent, StringComparison.Ordinal), Wait);
        Assert.Equal(before, users.Users.Count());

        page.Find("#new-password input, input#new-password").Change("long-enough-1");
        page.Find("#create-user").Click();
        page.WaitForAssertion(() => Assert.Contains("Email 'not-an-email' is invalid.", page.Find("#create-error").TextContent, StringComparison.Ordinal), Wait);
        Assert.Equal(before, users.Users.Count());

        // A taken email is refused too, with a message that says so.
        page.Find("#new-email input, input#new-email").Change(AppFactory.AdminEmail);
        page.Find("#new-password input, input#new-password").Change("long-enough-1");
        page.Find("#create-user").Click();
        page.WaitForAssertion(() => Assert.Contains("is already taken", page.Find("#create-error").TextContent, StringComparison.Ordinal), Wait);
        Assert.Equal(before, users.Users.Count());

        var email = $"new-{Guid.NewGuid():N}@test.local";
        page.Find("#new-email input, input#new-email").Change(email);
        page.Find("#new-password input, input#new-password").Change("long-enough-1");
        page.Find("#create-user").Click();

        page.WaitForAssertion(() =>
        {
            Assert.Empty(page.FindAll("#create-error"));
            Assert.Contains(email, page.Find("#users-table").TextContent, StringComparison.Ordinal);
        }, Wait);
        await using var check = _factory.Services.CreateAsyncScope();
        var checkUsers = check.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        var created = await checkUsers.FindByEmailAsync(email);
        Assert.NotNull(created);
        Assert.True(await checkUsers.CheckPasswordAsync(created, "long-enough-1"));
        Assert.Equal([Roles.Operator], await checkUsers.GetRolesAsync(created));
    }

    [Fact]
    public async Task LockUnlockAndRoleChangeReachTheUserStore()
    {
        var op = await Infrastructure.Users.CreateOperatorAsync(_factory.Services, $"target-{Guid.NewGuid():N}@test.local");
        var page = await RenderAsAdminAsync();
        page.WaitForAssertion(() => Row(page, op.Email!), Wait);

        Row(page, op.Email!).QuerySelector(".lock-button")!.Click();
        page.WaitForAssertion(() => Assert.Contains("locked", Row(page, op.Email!).TextContent, StringComparison.Ordinal), Wait);
        Assert.True(await IsLockedAsync(op.Id));

        Row(page, op.Email!).QuerySelector(".lock-button")!.Click();
        page.WaitForAssertion(() => Assert.Contains("active", Row(page, op.Email!).TextContent, StringComparison.Ordinal), Wait);
        Assert.False(await IsLockedAsync(op.Id));

        Row(page, op.Email!).QuerySelector(".role-button")!.Click();
        page.WaitForAssertion(() => Assert.Contains("Admin", Row(page, op.Email!).TextContent, StringComparison.Ordinal), Wait);
        Assert.Contains(Roles.Admin, await RolesOfAsync(op.Id));

        Row(page, op.Email!).QuerySelector(".role-button")!.Click();
        page.WaitForAssertion(() => Assert.Contains("Operator", Row(page, op.Email!).TextContent, StringComparison.Ordinal), Wait);
        Assert.DoesNotContain(Roles.Admin, await RolesOfAsync(op.Id));

        // The admin's own row offers no action on themselves.
        var mine = Row(page, AppFactory.AdminEmail);
        Assert.Null(mine.QuerySelector(".lock-button"));
        Assert.Null(mine.QuerySelector(".role-button"));
        Assert.Null(mine.QuerySelector(".delete-button"));
    }

    [Fact]
    public void ThePageIsForAdminsOnly()
    {
        var authorize = typeof(UsersPage).GetCustomAttributes<AuthorizeAttribute>(inherit: true).ToList();
        Assert.Contains(authorize, a => a.Roles == Roles.Admin);
    }

    [Fact]
    public async Task TheServiceRefusesAnOperatorOnEveryAction()
    {
        var op = await Infrastructure.Users.CreateOperatorAsync(_factory.Services);
        var victim = await Infrastructure.Users.CreateOperatorAsync(_factory.Services);
        await using var scope = _factory.Services.CreateAsyncScope();
        var admin = scope.ServiceProvider.GetRequiredService<UserAdminService>();
        var requester = new Requester(op.Id, op.Email!, IsAdmin: false);

        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => admin.ListAsync(requester, null, 0, 25, CancellationToken.None));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => admin.CreateAsync(requester, "sneaky@test.local", "long-enough-1", isAdmin: true));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => admin.SetLockedAsync(requester, victim.Id, locked: true));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => admin.SetAdminAsync(requester, op.Id, isAdmin: true));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => admin.DeleteAsync(requester, victim.Id));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => admin.EndSessionsAsync(requester, victim.Id));

        Assert.DoesNotContain(Roles.Admin, await RolesOfAsync(op.Id));
        Assert.False(await IsLockedAsync(victim.Id));
        Assert.Null(await scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>().FindByEmailAsync("sneaky@test.local"));
    }

    [Fact]
    public async Task RenderedForAnOperatorThePageFailsInsteadOfListingUsers()
    {
        var op = await Infrastructure.Users.CreateOperatorAsync(_factory.Services);
        Register(new Requester(op.Id, op.Email!, IsAdmin: false));

        // Past the route's [Authorize] (bUnit renders the component directly) the service still refuses.
        var error = Record.Exception(() => Render<UsersPage>(_ => { }));

        Assert.IsType<UnauthorizedAccessException>(error?.GetBaseException());
    }

    private async Task<IRenderedComponent<UsersPage>> RenderAsAdminAsync()
    {
        await using var lookup = _factory.Services.CreateAsyncScope();
        var admin = await lookup.ServiceProvider.GetRequiredService<UserManager<AppUser>>().FindByEmailAsync(AppFactory.AdminEmail);
        Register(new Requester(admin!.Id, admin.Email!, IsAdmin: true));
        return Render<UsersPage>(_ => { });
    }

    private void Register(Requester me)
    {
        _scope = _factory.Services.CreateAsyncScope();
        Context.Services.AddSingleton(_scope.Value.ServiceProvider.GetRequiredService<UserAdminService>());
        Context.Services.AddSingleton(new CurrentUser(new TestPrincipal(me.UserId, me.UserName, me.IsAdmin)));
    }

    private static AngleSharp.Dom.IElement Row(IRenderedComponent<UsersPage> page, string email) =>
        page.FindAll("#users-table tbody tr").Single(r => r.TextContent.Contains(email, StringComparison.Ordinal));

    private async Task<bool> IsLockedAsync(string userId)
    {
        await using var scope = _factory.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        return await users.IsLockedOutAsync((await users.FindByIdAsync(userId))!);
    }

    private async Task<IList<string>> RolesOfAsync(string userId)
    {
        await using var scope = _factory.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        return await users.GetRolesAsync((await users.FindByIdAsync(userId))!);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_scope is { } scope)
        {
            await scope.DisposeAsync();
        }
        await _factory.DisposeAsync();
    }
}
