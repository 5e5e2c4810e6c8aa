using System.Globalization;
using System.Text.Json;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Playwright;

namespace MeasureApp.Tests.History;

/// <summary>The detail page in Chromium: overview chart from the pyramid, zoom re-reads, no leak to other users.</summary>
public sealed class MeasurementDetailBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    // Max y over all traces and the x extent of the first trace, as numbers.
    private const string ChartSummaryJs = """
        () => {
            const el = document.querySelector('.js-plotly-plot');
            if (!el || !el.data || el.data.length === 0 || !el.data[0].x || el.data[0].x.length === 0) return null;
            const ys = el.data.flatMap(t => Array.from(t.y));
            const xs = Array.from(el.data[0].x);
            return { traces: el.data.length, points: ys.length, maxY: Math.max(...ys), minX: Math.min(...xs), maxX: Math.max(...xs) };
        }
        """;

    [Fact]
    public async Task TheOwnerSeesTheWholeMeasurementWithItsSpikeAndZoomingReReadsTheRange()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services);
        var id = await SpikeMeasurement.CreateAsync(browser.Factory.Services, op.Id, "Detail spike", op.Email);
        var page = await browser.LoggedInPageAsync(op.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(page, $"/measurements/{id}");

        await page.WaitForFunctionAsync($"() => ({ChartSummaryJs})() !== null");
        var overview = await SummaryAsync(page);
        Assert.Equal(1, overview.GetProperty("traces").GetInt32());
        Assert.True(overview.GetProperty("points").GetInt32() > 100);
        Assert.Equal(SpikeMeasurement.SpikeValue, overview.GetProperty("maxY").GetDouble(), 4);
        Assert.True(overview.GetProperty("maxX").GetDouble() > 9.9, "the overview spans the whole 10 s");
        await Assertions.Expect(page.Locator("#detail-name")).ToHaveTextAsync("Detail spike");
        await Assertions.Expect(page.Locator("#detail-caption")).ToContainTextAsync("pyramid level");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("detail.png"), FullPage = true });

        // Zoom to 10 ms around the spike the way a drag does: the page must ask the server for that range again.
        var spike = SpikeMeasurement.SpikeIndex / SpikeMeasurement.SampleRate;
        var (a, b) = ((spike - 0.005).ToString(CultureInfo.InvariantCulture), (spike + 0.005).ToString(CultureInfo.InvariantCulture));
        await page.EvaluateAsync($"() => Plotly.relayout(document.querySelector('.js-plotly-plot'), {{'xaxis.range[0]': {a}, 'xaxis.range[1]': {b}}})");
        await page.WaitForFunctionAsync($"() => {{ const s = ({ChartSummaryJs})(); return s !== null && s.minX > {a} - 0.01 && s.maxX < {b} + 0.01; }}");
        var zoomed = await SummaryAsync(page);
        Assert.Equal(SpikeMeasurement.SpikeValue, zoomed.GetProperty("maxY").GetDouble(), 4);
        await Assertions.Expect(page.Locator("#detail-caption")).ToContainTextAsync("raw samples");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("detail-zoomed.png"), FullPage = true });

        await page.ClickAsync("#reset-zoom");
        await page.WaitForFunctionAsync($"() => {{ const s = ({ChartSummaryJs})(); return s !== null && s.maxX > 9.9; }}");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task TheExportDialogPreparesTheWholeMeasurementWithProgressAndTheDownloadHasEveryRow()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services);
        var id = await SpikeMeasurement.CreateAsync(browser.Factory.Services, op.Id, "Export me", op.Email);
        var page = await browser.LoggedInPageAsync(op.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(page, $"/measurements/{id}");
        await page.WaitForFunctionAsync($"() => ({ChartSummaryJs})() !== null");

        await page.ClickAsync("#export-open");
        await page.WaitForSelectorAsync("#export-start");
        Assert.Equal("0", await page.InputValueAsync("#export-from"));
        await page.ClickAsync("#export-start");

        // Progress is shown while the server prepares the file, and ends at every row.
        await page.WaitForSelectorAsync("#export-progress");
        var total = SpikeMeasurement.Samples.ToString("N0", CultureInfo.InvariantCulture);
        await page.WaitForSelectorAsync("#export-download");
        Assert.Contains($"{total} / {total} rows", await page.InnerTextAsync("#export-progress-text"), StringComparison.Ordinal);
        var href = await page.GetAttributeAsync("#export-download", "href");

        var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#export-download"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("detail-export.png"), FullPage = true });
        var (rows, sawSpike) = await ReadCsvAsync(await download.PathAsync());
        Assert.EndsWith(".csv", download.SuggestedFilename, StringComparison.Ordinal);
        Assert.Equal(SpikeMeasurement.Samples, rows);
        Assert.True(sawSpike, "the single-sample spike is in the export");

        // The address served its one download: asking again answers 404.
        var again = await page.Context.APIRequest.GetAsync(href!);
        Assert.Equal(404, again.Status);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task TheExportDefaultsToTheCurrentZoomAndAnotherUserCannotFetchThePreparedFile()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services);
        var stranger = await Users.CreateOperatorAsync(browser.Factory.Services);
        var id = await SpikeMeasurement.CreateAsync(browser.Factory.Services, op.Id, "Zoomed export", op.Email);
        var page = await browser.LoggedInPageAsync(op.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(page, $"/measurements/{id}");
        await page.WaitForFunctionAsync($"() => ({ChartSummaryJs})() !== null");

        // 10 ms around the spike: 1,001 samples at 100 kHz, both ends included.
        var spike = SpikeMeasurement.SpikeIndex / SpikeMeasurement.SampleRate;
        var (a, b) = ((spike - 0.005).ToString(CultureInfo.InvariantCulture), (spike + 0.005).ToString(CultureInfo.InvariantCulture));
        await page.EvaluateAsync($"() => Plotly.relayout(document.querySelector('.js-plotly-plot'), {{'xaxis.range[0]': {a}, 'xaxis.range[1]': {b}}})");
        await Assertions.Expect(page.Locator("#detail-caption")).ToContainTextAsync("raw samples");

        await page.ClickAsync("#export-open");
        await page.WaitForSelectorAsync("#export-start");
        Assert.Equal(spike - 0.005, double.Parse(await page.InputValueAsync("#export-from"), CultureInfo.InvariantCulture), 9);
        Assert.Equal(spike + 0.005, double.Parse(await page.InputValueAsync("#export-to"), CultureInfo.InvariantCulture), 9);
        await page.ClickAsync("#export-start");
        await page.WaitForSelectorAsync("#export-download");
        var href = await page.GetAttributeAsync("#export-download", "href");

        // Another user holding the address gets 404, and the owner's download still works afterwards.
        var other = await browser.LoggedInPageAsync(stranger.Email!, Users.Password);
        Assert.Equal(404, (await other.Context.APIRequest.GetAsync(new Uri(browser.BaseAddress, href!).ToString())).Status);
        await other.Context.CloseAsync();

        var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#export-download"));
        var (rows, sawSpike) = await ReadCsvAsync(await download.PathAsync());
        Assert.Equal(1001, rows);
        Assert.True(sawSpike, "the spike lies inside the zoom");
        await page.Context.CloseAsync();
    }

    private static async Task<(int Rows, bool SawSpike)> ReadCsvAsync(string path)
    {
        using var reader = new StreamReader(path);
        var header = await reader.ReadLineAsync();
        Assert.StartsWith("time,", header, StringComparison.Ordinal);
        var rows = 0;
        var sawSpike = false;
        while (await reader.ReadLineAsync() is { } line)
        {
            rows++;
            sawSpike |= line.EndsWith("," + SpikeMeasurement.SpikeValue.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
        }
        return (rows, sawSpike);
    }

    [Fact]
    public async Task AnotherUserOpeningTheSameAddressSeesNotFoundAndNoChart()
    {
        var owner = await Users.CreateOperatorAsync(browser.Factory.Services);
        var stranger = await Users.CreateOperatorAsync(browser.Factory.Services);
        var id = await SpikeMeasurement.CreateAsync(browser.Factory.Services, owner.Id, "Secret run");
        var page = await browser.LoggedInPageAsync(stranger.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(page, $"/measurements/{id}");

        await Assertions.Expect(page.Locator("#detail-not-found")).ToBeVisibleAsync();
        Assert.Equal(0, await page.Locator(".js-plotly-plot").CountAsync());
        Assert.DoesNotContain("Secret run", await page.InnerTextAsync("body"), StringComparison.Ordinal);

        // An unknown id answers exactly the same.
        await BrowserFixture.GotoInteractiveAsync(page, $"/measurements/{Guid.NewGuid()}");
        await Assertions.Expect(page.Locator("#detail-not-found")).ToBeVisibleAsync();
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task TheMeasurementsListLinksToTheDetailPage()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services);
        var id = await SpikeMeasurement.CreateAsync(browser.Factory.Services, op.Id, "Linked run");
        var page = await browser.LoggedInPageAsync(op.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(page, "/measurements");

        await page.Locator(".measurement-link", new PageLocatorOptions { HasText = "Linked run" }).ClickAsync();
        await page.WaitForURLAsync(url => url.EndsWith($"/measurements/{id}", StringComparison.Ordinal));
        await Assertions.Expect(page.Locator("#detail-name")).ToHaveTextAsync("Linked run");
        await page.Context.CloseAsync();
    }

    private static async Task<JsonElement> SummaryAsync(IPage page) =>
        (await page.EvaluateAsync<JsonElement?>($"({ChartSummaryJs})"))!.Value;
}
