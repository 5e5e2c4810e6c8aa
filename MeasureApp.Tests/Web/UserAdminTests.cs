using MeasureApp.Acquisition.Measurements;
using MeasureApp.Admin;
using MeasureApp.Data;
using MeasureApp.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Web;

/// <summary>User administration in the service layer (the page is only a view of it).</summary>
public abstract class UserAdminTests(DatabaseProvider provider) : IDisposable
{
    private readonly AppFactory _factory = new(provider);

    [Fact]
    public async Task ALockFromATabThatSawTheUserBeforeAnotherAdminChangedThemTakesEffect()
    {
        var (firstTab, me, _) = await AdminAsync();
        var (secondTab, _, _) = await AdminAsync();
        var op = await Users.CreateOperatorAsync(_factory.Services);
        Assert.True((await firstTab.SetLockedAsync(me, op.Id, true)).Succeeded);
        Assert.True((await secondTab.SetLockedAsync(me, op.Id, false)).Succeeded);

        var relock = await firstTab.SetLockedAsync(me, op.Id, true);

        // Either it worked, or it says it did not: never "locked" while the user can still sign in.
        await using var fresh = _factory.Services.CreateAsyncScope();
        var check = fresh.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        var locked = await check.IsLockedOutAsync((await check.FindByIdAsync(op.Id))!);
        Assert.Equal(relock.Succeeded, locked);
        Assert.True(relock.Succeeded, relock.Error);
    }

    [Fact]
    public async Task AnOperatorCannotUseTheAdminService()
    {
        var op = await Users.CreateOperatorAsync(_factory.Services);
        await using var scope = _factory.Services.CreateAsyncScope();
        var admin = scope.ServiceProvider.GetRequiredService<UserAdminService>();
        var requester = new Requester(op.Id, op.Email!, IsAdmin: false);

        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => admin.ListAsync(requester, null, 0, 10, CancellationToken.None));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => admin.SetLockedAsync(requester, op.Id, true));
    }

    [Fact]
    public async Task CreateRefusesAShortPasswordWithAClearMessage()
    {
        var (admin, me, _) = await AdminAsync();

        var result = await admin.CreateAsync(me, "new@test.local", "short", isAdmin: false);

        Assert.False(result.Succeeded);
        Assert.Contains("at least 8 characters", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LockingChangesTheStampAndUnlockingRestoresAccess()
    {
        var (admin, me, _) = await AdminAsync();
        var op = await Users.CreateOperatorAsync(_factory.Services);
        var stampBefore = await ReadAsync((users, user) => Task.FromResult(user!.SecurityStamp), op.Id);

        Assert.True((await admin.SetLockedAsync(me, op.Id, true)).Succeeded);
        Assert.True(await ReadAsync((users, user) => users.IsLockedOutAsync(user!), op.Id));
        Assert.NotEqual(stampBefore, await ReadAsync((users, user) => Task.FromResult(user!.SecurityStamp), op.Id));

        Assert.True((await admin.SetLockedAsync(me, op.Id, false)).Succeeded);
        Assert.False(await ReadAsync((users, user) => users.IsLockedOutAsync(user!), op.Id));
    }

    [Fact]
    public async Task AnAdminCannotLockDemoteOrDeleteThemselves()
    {
        var (admin, me, users) = await AdminAsync();

        Assert.False((await admin.SetLockedAsync(me, me.UserId, true)).Succeeded);
        Assert.False((await admin.SetAdminAsync(me, me.UserId, false)).Succeeded);
        Assert.False((await admin.DeleteAsync(me, me.UserId)).Succeeded);
        Assert.True(await users.IsInRoleAsync((await users.FindByIdAsync(me.UserId))!, Roles.Admin));
    }

    [Fact]
    public async Task PromotingDemotingAndDeletingTakeEffect()
    {
        var (admin, me, _) = await AdminAsync();
        var op = await Users.CreateOperatorAsync(_factory.Services);

        Assert.True((await admin.SetAdminAsync(me, op.Id, true)).Succeeded);
        Assert.True(await ReadAsync((users, user) => users.IsInRoleAsync(user!, Roles.Admin), op.Id));
        Assert.True((await admin.SetAdminAsync(me, op.Id, false)).Succeeded);
        Assert.False(await ReadAsync((users, user) => users.IsInRoleAsync(user!, Roles.Admin), op.Id));
        Assert.True((await admin.DeleteAsync(me, op.Id)).Succeeded);
        Assert.True(await ReadAsync((users, user) => Task.FromResult(user is null), op.Id));
    }

    [Fact]
    public async Task SearchFindsUsersByEmailWithPaging()
    {
        var (admin, me, _) = await AdminAsync();
        for (var i = 0; i < 3; i++)
        {
            await Users.CreateOperatorAsync(_factory.Services, $"needle{i}@test.local");
        }
        await Users.CreateOperatorAsync(_factory.Services, "other@test.local");

        var first = await admin.ListAsync(me, "needle", 0, 2, CancellationToken.None);
        var second = await admin.ListAsync(me, "needle", 1, 2, CancellationToken.None);

        Assert.Equal(3, first.Total);
        Assert.Equal(2, first.Items.Count);
        Assert.Single(second.Items);
        Assert.All(first.Items.Concat(second.Items), u => Assert.StartsWith("needle", u.Email, StringComparison.Ordinal));
    }

    // Reads the user as the database has it now, through a scope of its own (a long-lived one would
    // serve the entity it tracked before the change).
    private async Task<T> ReadAsync<T>(Func<UserManager<AppUser>, AppUser?, Task<T>> read, string userId)
    {
        await using var scope = _factory.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        return await read(users, await users.FindByIdAsync(userId));
    }

    private async Task<(UserAdminService Admin, Requester Me, UserManager<AppUser> Users)> AdminAsync()
    {
        var scope = _factory.Services.CreateScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        var admin = await users.FindByEmailAsync(AppFactory.AdminEmail);
        return (scope.ServiceProvider.GetRequiredService<UserAdminService>(), new Requester(admin!.Id, admin.Email!, IsAdmin: true), users);
    }

    public void Dispose()
    {
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteUserAdminTests() : UserAdminTests(DatabaseProvider.Sqlite);

public sealed class PostgresUserAdminTests() : UserAdminTests(DatabaseProvider.Postgres);
