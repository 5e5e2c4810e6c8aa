using MeasureApp.Tests.Infrastructure;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Annotations;

/// <summary>
/// "Mark now" in Chromium: the M key on the Live page marks the running measurement; the mark is drawn on the live
/// chart and listed on the measurement's detail page.
/// </summary>
public sealed class MarkNowBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const string LiveMarkJs = "() => { const gd = document.querySelector('.live-chart .js-plotly-plot'); return !!gd && (gd.layout.shapes || []).some(s => (s.name || '').startsWith('ann-')); }";

    [Fact]
    public async Task AMarkMadeLiveWithTheMKeyShowsOnTheLiveChartAndInTheDetailPagesList()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services);
        var page = await browser.LoggedInPageAsync(op.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(page, "/live");
        await LivePageDriver.StartMeasurementAsync(page, "Marked live", sampleRate: 1000);
        await page.WaitForSelectorAsync(".live-chart button.mark-now");
        await page.WaitForFunctionAsync("() => { const gd = document.querySelector('.live-chart .js-plotly-plot'); return gd && gd.data && gd.data[0] && gd.data[0].x.length > 0; }");
        var id = await page.Locator(".live-chart").First.GetAttributeAsync("data-measurement");

        await page.Keyboard.PressAsync("m");

        await page.WaitForFunctionAsync(LiveMarkJs);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("live-mark-now.png") });
        await BrowserFixture.GotoInteractiveAsync(page, $"/measurements/{id}");
        var row = page.Locator("#annotation-table tr.annotation-row", new PageLocatorOptions { HasText = "Mark at" });
        await row.WaitForAsync();
        await Assertions.Expect(row).ToContainTextAsync("mark");
        var stop = await page.Context.APIRequest.PostAsync($"/api/measurements/{id}/stop", new APIRequestContextOptions { Headers = new Dictionary<string, string> { ["Content-Type"] = "application/json" }, Data = "{}" });
        Assert.True(stop.Ok, await stop.TextAsync());
        await page.Context.CloseAsync();
    }
}
