using System.Globalization;
using System.Text.Json;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Analysis;

/// <summary>Cursors on a paused live chart in Chromium: two clicks show Δt and the statistics the stats API returns for that span.</summary>
public sealed class PausedLiveCursorBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const double Rate = 1000;

    [Fact]
    public async Task PausingTheLiveDisplayAndPlacingTwoCursorsShowsTheStatisticsTheStatsApiReturns()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services);
        var engine = browser.Factory.Services.GetRequiredService<MeasurementEngine>();
        var owner = new Requester(op.Id, op.Email!, IsAdmin: false);
        var started = await engine.StartAsync(owner, new UserLimits(),
            new StartRequest { DeviceId = "sim-1", Name = "Paused cursors", Channels = 1, SampleRate = Rate }, CancellationToken.None);
        Assert.True(started.Succeeded, started.Error);
        var id = started.Measurement!.Id;
        var chart = $"chart-{id:N}";
        var prefix = $"#cursor-{id:N}";
        try
        {
            var page = await browser.LoggedInPageAsync(op.Email!, Users.Password);
            await BrowserFixture.GotoInteractiveAsync(page, "/live");
            // Playing: no readout, a hint.
            await page.WaitForSelectorAsync($".live-chart[data-measurement='{id}'] .cursor-hint");
            var lastX = $"() => {{ const p = document.getElementById('{chart}'); if (!p || !p.data || !p.data[0] || p.data[0].x.length === 0) return -1; const x = p.data[0].x; return x[x.length - 1]; }}";
            await page.WaitForFunctionAsync($"({lastX})() > 4");

            await page.ClickAsync("#pause-button");
            await page.WaitForSelectorAsync(prefix + "-readout");
            // cursors.js makes the chart focusable once it has attached to the drawn plot; a frame already in flight
            // when the pause landed may still be drawn (SessionBrowserTests): wait for the status window without frames.
            await page.WaitForFunctionAsync($"() => document.getElementById('{chart}').hasAttribute('tabindex')");
            await page.WaitForFunctionAsync($"() => document.querySelector(\".live-chart[data-measurement='{id}'] .chip-fps\")?.textContent.trim() === '0 fps'");
            await page.EvaluateAsync("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))");
            // Two times inside what the chart shows, the later one well behind the newest point (the store writes behind the live view).
            var range = await page.EvaluateAsync<double[]>($"() => document.getElementById('{chart}')._fullLayout.xaxis.range.map(Number)");
            var newest = await page.EvaluateAsync<double>(lastX);
            var left = Math.Max(0, range[0]);
            var (a, b) = (Math.Round((left + (0.2 * (newest - left))) * Rate) / Rate, Math.Round((left + (0.6 * (newest - left))) * Rate) / Rate);
            var expectedCount = (long)Math.Round((b - a) * Rate) + 1;
            await WaitForStoredAsync(page, id, a, b, expectedCount);

            var pixelOf = $$"""
                (t) => {
                    const gd = document.getElementById('{{chart}}');
                    const L = gd._fullLayout;
                    const box = gd.getBoundingClientRect();
                    return { x: box.left + L._size.l + L.xaxis.d2p(t), y: box.top + L._size.t + L._size.h / 2 };
                }
                """;
            foreach (var (t, n) in new[] { (a, 1), (b, 2) })
            {
                var p = await page.EvaluateAsync<JsonElement>(pixelOf, t);
                await page.Mouse.ClickAsync((float)p.GetProperty("x").GetDouble(), (float)p.GetProperty("y").GetDouble());
                try
                {
                    await page.WaitForFunctionAsync($"(n) => (document.getElementById('{chart}').layout.shapes || []).filter(s => (s.name || '').startsWith('cursor-t')).length >= n", n);
                }
                catch (TimeoutException e)
                {
                    var state = await page.EvaluateAsync<string>($"() => {{ const gd = document.getElementById('{chart}'); return JSON.stringify({{ range: gd._fullLayout.xaxis.range, size: gd._fullLayout._size, box: gd.getBoundingClientRect(), shapes: gd.layout.shapes }}); }}");
                    throw new TimeoutException($"Cursor {n} at t = {t} s (pixel {p}) did not appear; range [{range[0]}, {range[1]}], newest {newest}; chart: {state}", e);
                }
            }
            var shapes = await page.EvaluateAsync<double[]>($"() => document.getElementById('{chart}').layout.shapes.filter(s => (s.name || '').startsWith('cursor-t')).map(s => s.x0).sort((a, b) => a - b)");
            var (t1, t2) = (shapes[0], shapes[1]);
            Assert.Equal(Math.Round(t1 * Rate), t1 * Rate, 6);
            Assert.Equal(Math.Round(t2 * Rate), t2 * Rate, 6);
            if (Math.Abs(t1 - a) > 0.1 || Math.Abs(t2 - b) > 0.1)
            {
                // Say how the chart's mapping moved between computing the click positions and now.
                var now = await page.EvaluateAsync<string>($"() => {{ const gd = document.getElementById('{chart}'); return JSON.stringify({{ range: gd._fullLayout.xaxis.range, size: gd._fullLayout._size, box: gd.getBoundingClientRect(), scroll: [window.scrollX, window.scrollY, document.documentElement.clientWidth] }}); }}");
                Assert.Fail($"Cursors at {t1} and {t2}, clicked at {a} and {b}; range then [{range[0]}, {range[1]}], chart now: {now}");
            }

            var stats = (await StatsAsync(page, id, t1, t2)).GetProperty("channels")[0];
            var count = stats.GetProperty("count").GetInt64();
            Assert.Equal((long)Math.Round((t2 - t1) * Rate) + 1, count);
            var row = page.Locator($"{prefix}-table tr[data-channel='0']");
            await Assertions.Expect(row.Locator(".stat-count")).ToHaveTextAsync(count.ToString("N0", CultureInfo.InvariantCulture));
            await Assertions.Expect(row.Locator(".stat-rms")).ToHaveTextAsync(stats.GetProperty("rms").GetDouble().ToString("G6", CultureInfo.InvariantCulture));
            await Assertions.Expect(row.Locator(".stat-mean")).ToHaveTextAsync(stats.GetProperty("mean").GetDouble().ToString("G6", CultureInfo.InvariantCulture));
            await Assertions.Expect(row.Locator(".stat-min")).ToHaveTextAsync(stats.GetProperty("min").GetDouble().ToString("G6", CultureInfo.InvariantCulture));
            await Assertions.Expect(row.Locator(".stat-max")).ToHaveTextAsync(stats.GetProperty("max").GetDouble().ToString("G6", CultureInfo.InvariantCulture));
            await Assertions.Expect(page.Locator(prefix + "-dt")).ToHaveTextAsync(Seconds(t2 - t1));
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("live-paused-cursors.png"), FullPage = true });

            // Resuming hides the readout and takes the cursor lines off the scrolling chart.
            await page.ClickAsync("#pause-button");
            await page.WaitForSelectorAsync(prefix + "-readout", new PageWaitForSelectorOptions { State = WaitForSelectorState.Detached });
            await page.WaitForFunctionAsync($"() => !(document.getElementById('{chart}').layout.shapes || []).some(s => (s.name || '').startsWith('cursor-'))");
            await page.Context.CloseAsync();
        }
        finally
        {
            await engine.StopAsync(id, owner, CancellationToken.None);
        }
    }

    // The readout's format: seconds from 1 s, else milliseconds.
    private static string Seconds(double s) => s >= 1
        ? s.ToString("0.######", CultureInfo.InvariantCulture) + " s"
        : (s * 1e3).ToString("0.###", CultureInfo.InvariantCulture) + " ms";

    private static async Task<JsonElement> StatsAsync(IPage page, Guid id, double from, double to)
    {
        var api = await page.Context.APIRequest.GetAsync(string.Create(CultureInfo.InvariantCulture, $"/api/measurements/{id}/stats?from={from:R}&to={to:R}"));
        Assert.True(api.Ok, await api.TextAsync());
        return JsonDocument.Parse(await api.TextAsync()).RootElement;
    }

    // Waits (the page polls the stats API, with Playwright's deadline) until the span holds all its samples.
    private static async Task WaitForStoredAsync(IPage page, Guid id, double from, double to, long count) =>
        await page.WaitForFunctionAsync(
            "async ([url, n]) => { const r = await fetch(url); return r.ok && (await r.json()).channels[0].count >= n; }",
            new object[] { string.Create(CultureInfo.InvariantCulture, $"/api/measurements/{id}/stats?from={from:R}&to={to:R}"), count },
            new PageWaitForFunctionOptions { PollingInterval = 200 });
}
