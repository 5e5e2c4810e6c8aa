using MeasureApp.Acquisition.Measurements;
using MeasureApp.Limits;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Browser;

/// <summary>Limits set by an admin take effect for the user: parallel measurements and open tabs.</summary>
public sealed class LimitsBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task AnAdminLowersAUsersParallelLimitAndTheirNextStartIsRefusedWithTheNumbers()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services, "limited@test.local");

        // The admin sets the override on the Limits page.
        var admin = await browser.LoggedInPageAsync(AppFactory.AdminEmail, AppFactory.AdminPassword);
        await BrowserFixture.GotoInteractiveAsync(admin, "/admin/limits?user=" + op.Id);
        await admin.WaitForSelectorAsync("#limit-parallel");
        await admin.FillAsync("#limit-parallel", "1");
        await admin.Locator("#limit-parallel").BlurAsync();
        await admin.ClickAsync("#limits-save");
        await admin.GetByText("Limits saved.").WaitForAsync();
        await admin.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("limits.png"), FullPage = true });
        await admin.Context.CloseAsync();

        // The user starts one measurement, then a second one is refused.
        var user = await browser.LoggedInPageAsync(op.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(user, "/live");
        await LivePageDriver.StartMeasurementAsync(user, "First");
        await user.WaitForSelectorAsync(".live-chart");
        await LivePageDriver.StartMeasurementAsync(user, "Second");

        Assert.Contains("You are running 1 of 1 allowed measurements.", await LivePageDriver.StartErrorAsync(user), StringComparison.Ordinal);
        await LivePageDriver.CancelStartAsync(user);
        Assert.Equal(1, await user.Locator(".live-chart").CountAsync());

        await user.ClickAsync(".stop-button");
        await user.WaitForSelectorAsync("#no-running");
        await user.Context.CloseAsync();
    }

    [Fact]
    public async Task ATabBeyondTheUsersOpenTabsLimitIsRefused()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services, "onetab@test.local");
        var errors = await browser.Factory.Services.GetRequiredService<LimitsAdminService>().SaveOverridesAsync(
            new Requester("admin", "admin", IsAdmin: true), op.Id, new LimitOverrides { MaxSessions = 1 }, CancellationToken.None);
        Assert.Empty(errors);

        var first = await browser.LoggedInPageAsync(op.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(first, "/live");
        await first.WaitForSelectorAsync(LivePageDriver.NewMeasurementButton);
        var second = await first.Context.NewPageAsync();
        await BrowserFixture.GotoInteractiveAsync(second, "/live");

        var refusal = second.Locator("#tab-limit");
        await refusal.WaitForAsync();
        Assert.Contains("1 of 1 allowed tabs", await refusal.InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await second.Locator(LivePageDriver.NewMeasurementButton).CountAsync());
        Assert.Equal(1, await first.Locator(LivePageDriver.NewMeasurementButton).CountAsync());
        await first.Context.CloseAsync();
    }

    [Fact]
    public async Task ATabWhoseConnectionDroppedNoLongerCountsAgainstTheOpenTabsLimit()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services, "droppedtab@test.local");
        var errors = await browser.Factory.Services.GetRequiredService<LimitsAdminService>().SaveOverridesAsync(
            new Requester("admin", "admin", IsAdmin: true), op.Id, new LimitOverrides { MaxSessions = 1 }, CancellationToken.None);
        Assert.Empty(errors);
        var registry = browser.Factory.Services.GetRequiredService<MeasureApp.Presence.CircuitRegistry>();

        var first = await browser.LoggedInPageAsync(op.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(first, "/live");
        await first.WaitForSelectorAsync(LivePageDriver.NewMeasurementButton);
        Assert.Single(registry.ForUser(op.Id), c => c.Connected);

        // The tab's renderer dies without saying goodbye (a crash, a lost network, a sleeping laptop):
        // its socket drops, and Blazor keeps the circuit up to 3 minutes for a reconnect.
        var cdp = await first.Context.NewCDPSessionAsync(first);
        _ = cdp.SendAsync("Page.crash").ContinueWith(_ => { }, TaskScheduler.Default);
        await Eventually.TrueAsync(() => registry.ForUser(op.Id) is [{ Connected: false }], "the dropped tab's circuit is kept but disconnected", TimeSpan.FromSeconds(60));

        var second = await first.Context.NewPageAsync();
        await BrowserFixture.GotoInteractiveAsync(second, "/live");
        await second.WaitForSelectorAsync(LivePageDriver.NewMeasurementButton);
        Assert.Equal(0, await second.Locator("#tab-limit").CountAsync());
        Assert.Single(registry.ForUser(op.Id), c => c.Connected);
        await first.Context.CloseAsync();
    }
}
