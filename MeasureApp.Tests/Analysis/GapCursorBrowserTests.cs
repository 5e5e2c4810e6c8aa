using System.Globalization;
using System.Text.Json;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Analysis;

/// <summary>
/// Cursors, statistics and spectrum on the detail page of a measurement with a gap, in Chromium: the cursors
/// sit on the stored samples after the gap (0.3 of a period off the index / rate grid), the readout's statistics
/// are the stats API's for that span, and the spectrum says it used the longest gap-free run.
/// </summary>
public sealed class GapCursorBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task CursorsOnAMeasurementWithAGapSitOnTheStoredSamplesAndTheSpectrumNamesTheRunItUsed()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services);
        var id = await AnalysisGapTests.StoreGapMeasurementAsync(browser.Factory.Services, op);
        var page = await browser.LoggedInPageAsync(op.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(page, $"/measurements/{id}");
        await DetailChartCursors.WaitForChartAsync(page);

        // t1 before the gap, t2 after it (between two stored samples there).
        await DetailChartCursors.PlaceAsync(page, 1.5, 7.25);
        await page.Keyboard.PressAsync("ArrowRight");
        await Assertions.Expect(page.Locator("#cursor-dt")).Not.ToHaveTextAsync("—");
        var shapes = await DetailChartCursors.TimesAsync(page);
        var (t1, t2) = (shapes[0], shapes[1]);

        // Each cursor on a stored sample: before the gap on the grid, after it 2.0003 s later (off the grid).
        var i1 = Math.Round(t1 * 1000);
        var i2 = Math.Round((t2 - 2.0003) * 1000);
        Assert.Equal(AnalysisGapTests.SecondsOf((long)i1), t1, 9);
        Assert.True(i2 >= AnalysisGapTests.GapAt, $"t2 = {t2}");
        Assert.Equal(AnalysisGapTests.SecondsOf((long)i2), t2, 9);

        var api = await page.Context.APIRequest.GetAsync(string.Create(CultureInfo.InvariantCulture, $"/api/measurements/{id}/stats?from={t1:R}&to={t2:R}"));
        Assert.True(api.Ok, await api.TextAsync());
        var stats = JsonDocument.Parse(await api.TextAsync()).RootElement.GetProperty("channels")[0];
        // Both ends inclusive, the gap holds nothing: the samples from i1 to i2.
        Assert.Equal((long)(i2 - i1 + 1), stats.GetProperty("count").GetInt64());
        var row = page.Locator("#cursor-table tr[data-channel='0']");
        await Assertions.Expect(row.Locator(".stat-count")).ToHaveTextAsync(stats.GetProperty("count").GetInt64().ToString("N0", CultureInfo.InvariantCulture));
        await Assertions.Expect(row.Locator(".stat-rms")).ToHaveTextAsync(stats.GetProperty("rms").GetDouble().ToString("G6", CultureInfo.InvariantCulture));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("detail-gap-cursors.png"), FullPage = true });

        await page.ClickAsync("#cursor-spectrum");
        await Assertions.Expect(page.Locator("#spectrum-note")).ToContainTextAsync("longest gap-free run", new LocatorAssertionsToContainTextOptions { Timeout = 60_000 });
        await Assertions.Expect(page.Locator("#spectrum-peaks")).ToContainTextAsync("Hz", new LocatorAssertionsToContainTextOptions { Timeout = 60_000 });
        var firstPeak = await page.Locator("#spectrum-peaks tbody tr").First.Locator("td").Nth(1).InnerTextAsync();
        Assert.InRange(double.Parse(firstPeak.Replace(" Hz", "", StringComparison.Ordinal), CultureInfo.InvariantCulture), 124, 126);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("detail-gap-spectrum.png"), FullPage = true });
        await page.Context.CloseAsync();
    }
}
