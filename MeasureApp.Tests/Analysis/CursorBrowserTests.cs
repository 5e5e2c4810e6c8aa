using System.Globalization;
using System.Text.Json;
using MeasureApp.Tests.History;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Analysis;

/// <summary>Cursors on the detail page in Chromium: two clicks on the chart show Δt and the statistics the stats API returns; the spectrum and spectrogram of the span.</summary>
public sealed class CursorBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task PlacingTwoCursorsShowsDeltaTAndTheStatisticsTheStatsApiReturns()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services);
        var id = await SpikeMeasurement.CreateAsync(browser.Factory.Services, op.Id, "Cursor run", op.Email);
        var page = await browser.LoggedInPageAsync(op.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(page, $"/measurements/{id}");
        await DetailChartCursors.WaitForChartAsync(page);

        await DetailChartCursors.PlaceAsync(page, 2.0, 6.5);
        // One sample to the right with the keyboard (the second cursor is the active one).
        await page.Keyboard.PressAsync("ArrowRight");
        await Assertions.Expect(page.Locator("#cursor-dt")).Not.ToHaveTextAsync("—");

        var shapes = await DetailChartCursors.TimesAsync(page);
        var (t1, t2) = (shapes[0], shapes[1]);
        // Snapped to the sample grid.
        Assert.Equal(Math.Round(t1 * SpikeMeasurement.SampleRate), t1 * SpikeMeasurement.SampleRate, 6);
        Assert.Equal(Math.Round(t2 * SpikeMeasurement.SampleRate), t2 * SpikeMeasurement.SampleRate, 6);
        Assert.InRange(t1, 1.9, 2.1);
        Assert.InRange(t2, 6.4, 6.6);

        var api = await page.Context.APIRequest.GetAsync(string.Create(CultureInfo.InvariantCulture, $"/api/measurements/{id}/stats?from={t1:R}&to={t2:R}"));
        Assert.True(api.Ok, await api.TextAsync());
        var stats = JsonDocument.Parse(await api.TextAsync()).RootElement.GetProperty("channels")[0];
        var count = stats.GetProperty("count").GetInt64();
        Assert.Equal((long)Math.Round((t2 - t1) * SpikeMeasurement.SampleRate) + 1, count);
        var row = page.Locator("#cursor-table tr[data-channel='0']");
        await Assertions.Expect(row.Locator(".stat-count")).ToHaveTextAsync(count.ToString("N0", CultureInfo.InvariantCulture));
        await Assertions.Expect(row.Locator(".stat-rms")).ToHaveTextAsync(stats.GetProperty("rms").GetDouble().ToString("G6", CultureInfo.InvariantCulture));
        await Assertions.Expect(row.Locator(".stat-mean")).ToHaveTextAsync(stats.GetProperty("mean").GetDouble().ToString("G6", CultureInfo.InvariantCulture));
        await Assertions.Expect(row.Locator(".stat-max")).ToHaveTextAsync(stats.GetProperty("max").GetDouble().ToString("G6", CultureInfo.InvariantCulture));
        var dt = (t2 - t1).ToString("0.######", CultureInfo.InvariantCulture) + " s";
        await Assertions.Expect(page.Locator("#cursor-dt")).ToHaveTextAsync(dt);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("detail-cursors.png"), FullPage = true });

        // The spectrum view of the span opens in a dialog with its peak near 50 Hz.
        await page.ClickAsync("#cursor-spectrum");
        // A transform of 2^19 points on a loaded machine: allow it more than the default 5 s.
        await Assertions.Expect(page.Locator("#spectrum-peaks")).ToContainTextAsync("Hz", new LocatorAssertionsToContainTextOptions { Timeout = 60_000 });
        var firstPeak = await page.Locator("#spectrum-peaks tbody tr").First.Locator("td").Nth(1).InnerTextAsync();
        Assert.InRange(double.Parse(firstPeak.Replace(" Hz", "", StringComparison.Ordinal), CultureInfo.InvariantCulture), 49.5, 50.5);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("detail-spectrum.png"), FullPage = true });

        // The spectrogram of the span: a heatmap of short-time spectra under the spectrum.
        await page.GetByText("Spectrogram", new PageGetByTextOptions { Exact = true }).ClickAsync();
        await page.WaitForFunctionAsync("() => { const gd = document.getElementById('spectrogram-chart'); return gd && gd.data && gd.data[0] && gd.data[0].type === 'heatmap' && gd.data[0].x.length > 1; }",
            null, new PageWaitForFunctionOptions { Timeout = 60_000 });
        await Assertions.Expect(page.Locator("#spectrogram-caption")).ToContainTextAsync("frames of 1,024 samples", new LocatorAssertionsToContainTextOptions { Timeout = 60_000 });
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("detail-spectrogram.png"), FullPage = true });
        await page.Context.CloseAsync();
    }
}
