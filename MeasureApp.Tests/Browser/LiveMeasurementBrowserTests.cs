using MeasureApp.Tests.Infrastructure;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Browser;

/// <summary>The walking skeleton in real Chromium: log in, start, watch the chart grow, stop, find it in the list.</summary>
public sealed class LiveMeasurementBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const string PointCount = "() => { const p = document.querySelector('.js-plotly-plot'); return p && p.data && p.data[0] ? p.data[0].x.length : 0; }";

    [Fact]
    public async Task AdminStartsASimulatedMeasurementWatchesItGrowAndStopsIt()
    {
        var page = await browser.LoggedInPageAsync(AppFactory.AdminEmail, AppFactory.AdminPassword);
        await BrowserFixture.GotoInteractiveAsync(page, "/live");
        await page.WaitForSelectorAsync("#start-button");
        await page.WaitForSelectorAsync("#no-running");

        await page.FillAsync("#start-name", "Browser sine");
        await page.ClickAsync("#start-button");
        await page.WaitForSelectorAsync(".live-chart");

        // The trace grows: first some points, then clearly more (the chart is fed live from the server).
        await page.WaitForFunctionAsync($"({PointCount})() > 20");
        var first = await page.EvaluateAsync<int>(PointCount);
        await page.WaitForFunctionAsync($"({PointCount})() > {first + 100}");
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
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("measurements.png"), FullPage = true });

        // Log out from the app bar: the next protected page asks for a login again.
        await page.ClickAsync("#logout");
        await page.WaitForURLAsync(url => url.Contains("/Account/Login", StringComparison.Ordinal));
        await page.GotoAsync("/live");
        Assert.Contains("/Account/Login", page.Url, StringComparison.Ordinal);
        await page.Context.CloseAsync();
    }
}
