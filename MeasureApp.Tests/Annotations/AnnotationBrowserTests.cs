using System.Globalization;
using System.Text.Json;
using MeasureApp.Tests.History;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Annotations;

/// <summary>
/// Annotating in Chromium as a user would: two cursors on the detail chart, "Add annotation", the band on the
/// chart and the row beside it; a click on the row zooms to the range; the API returns the same annotation.
/// </summary>
public sealed class AnnotationBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task AnOwnerAnnotatesTheCursorSpanSeesItOnTheChartAndZoomsToIt()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services);
        var id = await SpikeMeasurement.CreateAsync(browser.Factory.Services, op.Id, "Annotated run", op.Email);
        var page = await browser.LoggedInPageAsync(op.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(page, $"/measurements/{id}");
        await DetailChartCursors.WaitForChartAsync(page);
        await Assertions.Expect(page.Locator("#annotations-empty")).ToBeVisibleAsync();

        await DetailChartCursors.PlaceAsync(page, 2.0, 6.5);
        var cursors = await DetailChartCursors.TimesAsync(page);

        await page.ClickAsync("#annotation-add");
        await page.Locator("#annotation-title").FillAsync("Spike window");
        await page.Locator("#annotation-tags").FillAsync("spike, review");
        await page.ClickAsync("#annotation-save");

        var row = page.Locator("#annotation-table tr.annotation-row", new PageLocatorOptions { HasText = "Spike window" });
        await row.WaitForAsync();
        await Assertions.Expect(row).ToContainTextAsync("review");
        // The band on the chart spans the cursors.
        await page.WaitForFunctionAsync("() => (document.getElementById('detail-chart').layout.shapes || []).some(s => (s.name || '').startsWith('ann-') && s.type === 'rect')");
        var band = await page.EvaluateAsync<double[]>("() => { const s = document.getElementById('detail-chart').layout.shapes.find(s => (s.name || '').startsWith('ann-')); return [s.x0, s.x1]; }");
        Assert.Equal(cursors[0], band[0], 9);
        Assert.Equal(cursors[1], band[1], 9);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("detail-annotations.png"), FullPage = true });

        // The API has the same range.
        var api = await page.Context.APIRequest.GetAsync($"/api/measurements/{id}/annotations");
        Assert.True(api.Ok, await api.TextAsync());
        var stored = Assert.Single(JsonDocument.Parse(await api.TextAsync()).RootElement.EnumerateArray());
        Assert.Equal(cursors[0], stored.GetProperty("from").GetDouble(), 9);
        Assert.Equal(cursors[1], stored.GetProperty("to").GetDouble(), 9);

        // A click on the row zooms the chart to the annotation (and the band survives the re-render).
        await row.Locator("td").First.ClickAsync();
        await page.WaitForFunctionAsync(
            "([a, b]) => { const r = document.getElementById('detail-chart').layout.xaxis.range; return r && Math.abs(r[0] - a) < 1e-9 && Math.abs(r[1] - b) < 1e-9; }",
            new[] { cursors[0], cursors[1] });
        await page.WaitForFunctionAsync("() => (document.getElementById('detail-chart').layout.shapes || []).some(s => (s.name || '').startsWith('ann-'))");
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"{cursors[0]:0.######}"), await row.Locator(".annotation-time").InnerTextAsync(), StringComparison.Ordinal);
        await page.Context.CloseAsync();
    }
}
