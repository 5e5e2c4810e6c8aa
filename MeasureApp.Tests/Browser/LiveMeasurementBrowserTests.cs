using MeasureApp.Tests.Infrastructure;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Browser;

/// <summary>The walking skeleton in real Chromium: log in, start, watch the chart grow, stop, find it in the list.</summary>
public sealed class LiveMeasurementBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task AdminStartsASimulatedMeasurementWatchesItGrowAndStopsIt()
    {
        var page = await browser.LoggedInPageAsync(AppFactory.AdminEmail, AppFactory.AdminPassword);
        await BrowserFixture.GotoInteractiveAsync(page, "/live");
        await page.WaitForSelectorAsync("#no-running");

        // The start dialog shows the user's limits beside its fields.
        await LivePageDriver.OpenStartDialogAsync(page);
        Assert.Contains("1 – 8", await page.InnerTextAsync("#limit-channels"), StringComparison.Ordinal);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("start-dialog.png"), FullPage = true });
        await LivePageDriver.CancelStartAsync(page);

        await LivePageDriver.StartMeasurementAsync(page, "Browser sine");
        await page.WaitForSelectorAsync(".live-chart");

        // The trace grows: first some points, then clearly more (the chart is fed live from the server).
        await LivePageDriver.WaitForPointsAsync(page, 20);
        var first = await LivePageDriver.TracePointCountAsync(page);
        await LivePageDriver.WaitForPointsAsync(page, first + 100);
        var fps = await page.TextContentAsync(".chip-fps");
        Assert.Matches("[0-9]+ fps", fps);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("live.png"), FullPage = true });

        await page.ClickAsync(".stop-button");
        await page.WaitForSelectorAsync("#no-running");

        await BrowserFixture.GotoInteractiveAsync(page, "/measurements");
        var row = page.Locator("#measurements-grid tr", new PageLocatorOptions { HasText = "Browser sine" });
        await row.WaitForAsync();
        var text = await row.InnerTextAsync();
        Assert.Contains("Stopped", text, StringComparison.Ordinal);
        Assert.Contains(AppFactory.AdminEmail, text, StringComparison.Ordinal);

        // Log out from the app bar: the next protected page asks for a login again.
        await page.ClickAsync("#logout");
        await page.WaitForURLAsync(url => url.Contains("/Account/Login", StringComparison.Ordinal));
        await page.GotoAsync("/live");
        Assert.Contains("/Account/Login", page.Url, StringComparison.Ordinal);
        await page.Context.CloseAsync();
    }
}
