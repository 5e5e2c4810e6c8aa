using MeasureApp.Acquisition.Measurements;
using MeasureApp.Admin;
using MeasureApp.Data;
using MeasureApp.Presence;
using MeasureApp.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Browser;

/// <summary>An admin ends a user's open tab: it leaves at once, and the user must log in again.</summary>
public sealed class AdminSessionBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task EndingAUsersSessionsClosesTheirOpenTabAtOnce()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services);
        var page = await browser.LoggedInPageAsync(op.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(page, "/live");
        var registry = browser.Factory.Services.GetRequiredService<CircuitRegistry>();
        Assert.NotEmpty(registry.ForUser(op.Id));

        await using var scope = browser.Factory.Services.CreateAsyncScope();
        var adminUser = await scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>().FindByEmailAsync(AppFactory.AdminEmail);
        var (result, ended) = await scope.ServiceProvider.GetRequiredService<UserAdminService>()
            .EndSessionsAsync(new Requester(adminUser!.Id, adminUser.Email!, IsAdmin: true), op.Id);

        Assert.True(result.Succeeded);
        // The /live tab, plus possibly the circuit of the page the login landed on, whose disconnect
        // the server may not have processed yet.
        Assert.InRange(ended, 1, 2);
        // The tab's content goes at once and it is sent to the SessionEnded page: either shows #session-ended (the
        // in-page notice is a render batch, which survives a reconnect under load; the navigation may land later).
        await page.WaitForSelectorAsync("#session-ended", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });
        Assert.Equal(0, await page.Locator(".live-chart").CountAsync());
        await page.GotoAsync("/live");
        Assert.Contains("/Account/Login", page.Url, StringComparison.Ordinal);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task TheUsersPageListsUsersForAnAdmin()
    {
        await Users.CreateOperatorAsync(browser.Factory.Services, "listed@test.local");
        var page = await browser.LoggedInPageAsync(AppFactory.AdminEmail, AppFactory.AdminPassword);
        await BrowserFixture.GotoInteractiveAsync(page, "/admin/users");

        await page.Locator("#users-table tr", new PageLocatorOptions { HasText = "listed@test.local" }).WaitForAsync();
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("users.png"), FullPage = true });
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task TheMonitorShowsAUsersRunningMeasurementLive()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services, "monitored@test.local");
        var engine = browser.Factory.Services.GetRequiredService<MeasurementEngine>();
        var owner = new Requester(op.Id, op.Email!, IsAdmin: false);
        var started = await engine.StartAsync(owner, new MeasureApp.Acquisition.UserLimits(),
            new StartRequest { DeviceId = "sim-1", Name = "Monitored", Channels = 2, SampleRate = 10_000 }, CancellationToken.None);
        Assert.True(started.Succeeded, started.Error);
        await StoreAnHourOfPresenceAsync(browser.Factory.Services);
        try
        {
            // The operator watches the measurement in their own tab: its renders feed the latency tiles.
            var opPage = await browser.LoggedInPageAsync(op.Email!, Users.Password);
            await BrowserFixture.GotoInteractiveAsync(opPage, "/live");
            await opPage.Locator(".live-chart", new PageLocatorOptions { HasText = "Monitored" }).WaitForAsync();
            await LivePageDriver.WaitForPointsAsync(opPage, 20);

            var page = await browser.LoggedInPageAsync(AppFactory.AdminEmail, AppFactory.AdminPassword);
            await BrowserFixture.GotoInteractiveAsync(page, "/admin/monitor");

            // The feed refreshes every second: wait for the operator's row with a non-zero acquisition rate.
            var row = page.Locator("#monitor-table tr", new PageLocatorOptions { HasText = "monitored@test.local" });
            await row.WaitForAsync();
            await page.WaitForFunctionAsync(
                "() => [...document.querySelectorAll('#monitor-table tr')].some(r => r.innerText.includes('monitored@test.local') && /\\b[1-9][0-9,]{3,}\\b/.test(r.cells[1].innerText))");
            await page.WaitForFunctionAsync("() => /ms$/.test(document.querySelector('#latency-p99').innerText.trim())");
            // The users chart starts with the stored hour, not at the page's opening.
            await page.WaitForFunctionAsync("() => { const p = document.querySelector('#monitor-chart'); return p && p.data && p.data[0] && p.data[0].x.length > 300; }");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("monitor.png"), FullPage = true });
            await page.Context.CloseAsync();
            await opPage.Context.CloseAsync();
        }
        finally
        {
            await engine.StopAsync(started.Measurement!.Id, owner, CancellationToken.None);
        }
    }

    // An hour of 10-s presence snapshots (a slow wave of 2 to 8 users), as the snapshot service would have stored them.
    private static async Task StoreAnHourOfPresenceAsync(IServiceProvider services)
    {
        var now = DateTimeOffset.UtcNow;
        await using var db = await services.GetRequiredService<Microsoft.EntityFrameworkCore.IDbContextFactory<AppDbContext>>().CreateDbContextAsync();
        for (var i = 360; i > 0; i--)
        {
            var users = 5 + (int)Math.Round(3 * Math.Sin(i / 40.0));
            db.Set<PresenceSnapshotRecord>().Add(new PresenceSnapshotRecord { At = now.AddSeconds(-10 * i), ActiveUsers = users, OpenTabs = users + 2 });
        }
        await db.SaveChangesAsync();
    }
}
