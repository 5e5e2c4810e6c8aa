using System.Reflection;
using Bunit;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Admin;
using MeasureApp.Data;
using MeasureApp.Identity;
using MeasureApp.Limits;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using LimitsPage = MeasureApp.Components.Pages.Admin.Limits;

namespace MeasureApp.Tests.Components;

/// <summary>
/// The Limits admin page rendered with bUnit against the real services on a fresh database:
/// configured defaults shown, out-of-range overrides refused with the allowed range and not stored,
/// valid ones stored as the user's effective limits; the page is admin-only.
/// </summary>
public sealed class LimitsPageBunitTests : MudTestContext
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    // Distinct from the built-in defaults, so the page provably shows the configuration.
    private readonly AppFactory _factory = new(DatabaseProvider.Sqlite, new Dictionary<string, string?>
    {
        ["Limits:MaxParallelMeasurements"] = "3",
        ["Limits:MaxChannels"] = "5",
        ["Limits:MaxSampleRate"] = "50000",
        ["Limits:MaxSessions"] = "7",
    });

    private AsyncServiceScope? _scope;

    [Fact]
    public async Task ShowsTheConfiguredDefaults()
    {
        var page = await RenderAsAdminAsync();

        var rows = page.FindAll("#defaults-table tr").ToDictionary(r => r.Children[0].TextContent.Trim(), r => r.Children[1].TextContent.Trim());
        Assert.Equal("3", rows["Parallel measurements"]);
        Assert.Equal("50,000 Hz", rows["Sample rate"]);
        Assert.Equal("5", rows["Channels"]);
        Assert.Equal("10 MB/s", rows["Live bandwidth"]);
        Assert.Equal("8 h", rows["Duration"]);
        Assert.Equal("7", rows["Open tabs"]);
        Assert.Equal("48 h", rows["Retention"]);
    }

    [Fact]
    public async Task OutOfRangeOverridesAreRefusedWithTheAllowedRangeAndNotStored()
    {
        var op = await Infrastructure.Users.CreateOperatorAsync(_factory.Services);
        var page = await RenderAsAdminAsync(op.Id);
        // A valid override stored first: a refused save must not lose it.
        Field(page, "limit-channels").Change("3");
        page.Find("#limits-save").Click();
        page.WaitForAssertion(() => Assert.Equal(3, Overrides(op.Id).MaxChannels), Wait);

        Field(page, "limit-channels").Change("12");
        Field(page, "limit-rate").Change("50");
        Field(page, "limit-parallel").Change("0");
        Field(page, "limit-sessions").Change("5000");
        Field(page, "limit-duration").Change("1000");
        page.Find("#limits-save").Click();

        page.WaitForAssertion(() => Assert.Equal(5, page.FindAll(".limit-error").Count), Wait);
        var errors = page.FindAll(".limit-error").Select(e => e.TextContent.Trim()).ToList();
        Assert.Contains("Channels must be between 1 and 8 (got 12).", errors);
        Assert.Contains("Sample rate must be between 100 Hz and 100,000 Hz (got 50 Hz).", errors);
        Assert.Contains("Parallel measurements must be between 1 and 64 (got 0).", errors);
        Assert.Contains("Open tabs must be between 1 and 1,000 (got 5,000).", errors);
        Assert.Contains("Duration must be between 1 s and 30 days (got 1,000 h).", errors);

        var stored = Overrides(op.Id);
        Assert.Equal(3, stored.MaxChannels);
        Assert.Null(stored.MaxSampleRate);
        Assert.Null(stored.MaxParallelMeasurements);
        Assert.Null(stored.MaxSessions);
        Assert.Null(stored.MaxDuration);
        Assert.Equal(3, (await EffectiveAsync(op.Id)).MaxChannels);
    }

    [Fact]
    public async Task ValidOverridesBecomeTheUsersLimitsAndUseDefaultsClearsThem()
    {
        var op = await Infrastructure.Users.CreateOperatorAsync(_factory.Services);
        var other = await Infrastructure.Users.CreateOperatorAsync(_factory.Services);
        var page = await RenderAsAdminAsync(op.Id);

        Field(page, "limit-parallel").Change("2");
        Field(page, "limit-rate").Change("20000");
        Field(page, "limit-duration").Change("1.5");
        page.Find("#limits-save").Click();

        page.WaitForAssertion(() => Assert.Equal(2, Overrides(op.Id).MaxParallelMeasurements), Wait);
        Assert.Empty(page.FindAll(".limit-error"));
        var effective = await EffectiveAsync(op.Id);
        Assert.Equal(2, effective.MaxParallelMeasurements);
        Assert.Equal(20_000, effective.MaxSampleRate);
        Assert.Equal(TimeSpan.FromHours(1.5), effective.MaxDuration);
        Assert.Equal(5, effective.MaxChannels);
        // Another user keeps the defaults.
        Assert.Equal(3, (await EffectiveAsync(other.Id)).MaxParallelMeasurements);

        page.Find("#limits-clear").Click();
        page.WaitForAssertion(() => Assert.Null(Overrides(op.Id).MaxParallelMeasurements), Wait);
        Assert.Equal(3, (await EffectiveAsync(op.Id)).MaxParallelMeasurements);
        Assert.Equal(50_000, (await EffectiveAsync(op.Id)).MaxSampleRate);
    }

    [Fact]
    public async Task ThePageIsForAdminsOnlyAndTheServiceRefusesAnOperator()
    {
        Assert.Contains(typeof(LimitsPage).GetCustomAttributes<AuthorizeAttribute>(inherit: true), a => a.Roles == Roles.Admin);

        var op = await Infrastructure.Users.CreateOperatorAsync(_factory.Services);
        var service = _factory.Services.GetRequiredService<LimitsAdminService>();
        var requester = new Requester(op.Id, op.Email!, IsAdmin: false);
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => service.GetOverridesAsync(requester, op.Id, CancellationToken.None));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => service.SaveOverridesAsync(requester, op.Id, new LimitOverrides { MaxParallelMeasurements = 64 }, CancellationToken.None));
        Assert.Null(Overrides(op.Id).MaxParallelMeasurements);

        // Past the route's [Authorize] (bUnit renders the component directly) the services still refuse.
        Register(requester);
        var error = Record.Exception(() => Render<LimitsPage>(_ => { }));
        Assert.IsType<UnauthorizedAccessException>(error?.GetBaseException());
    }

    private async Task<IRenderedComponent<LimitsPage>> RenderAsAdminAsync(string? user = null)
    {
        await using var lookup = _factory.Services.CreateAsyncScope();
        var admin = await lookup.ServiceProvider.GetRequiredService<UserManager<AppUser>>().FindByEmailAsync(AppFactory.AdminEmail);
        Register(new Requester(admin!.Id, admin.Email!, IsAdmin: true));
        if (user is not null)
        {
            var navigation = Context.Services.GetRequiredService<NavigationManager>();
            navigation.NavigateTo(navigation.GetUriWithQueryParameter("user", user));
        }
        var page = Render<LimitsPage>(_ => { });
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll("#defaults-table tr")), Wait);
        if (user is not null)
        {
            page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll("#limits-save")), Wait);
        }
        return page;
    }

    private void Register(Requester me)
    {
        _scope = _factory.Services.CreateAsyncScope();
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<LimitsService>());
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<LimitsAdminService>());
        Context.Services.AddSingleton(_scope.Value.ServiceProvider.GetRequiredService<UserAdminService>());
        Context.Services.AddSingleton(new CurrentUser(new TestPrincipal(me.UserId, me.UserName, me.IsAdmin)));
    }

    private static AngleSharp.Dom.IElement Field(IRenderedComponent<LimitsPage> page, string id) =>
        page.Find($"#{id} input, input#{id}");

    private LimitOverrides Overrides(string userId) =>
        _factory.Services.GetRequiredService<LimitsAdminService>()
            .GetOverridesAsync(new Requester("check", "check", IsAdmin: true), userId, CancellationToken.None).GetAwaiter().GetResult();

    private Task<UserLimits> EffectiveAsync(string userId) =>
        _factory.Services.GetRequiredService<LimitsService>().GetAsync(userId, CancellationToken.None);

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
