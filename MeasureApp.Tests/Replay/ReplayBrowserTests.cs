using System.Diagnostics;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.History;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace MeasureApp.Tests.Replay;

/// <summary>REPLAY and SIMULATION modes of the Live page, per tab, in a real browser.</summary>
public sealed class ReplayBrowserTests(BrowserFixture browser, ITestOutputHelper output) : IClassFixture<BrowserFixture>
{
    // Time (s) of the newest point of the tab's replay/simulation chart, or -1 before the first point.
    private const string LastX = "() => { const p = document.getElementById('replay-plot'); if (!p || !p.data || !p.data[0] || p.data[0].x.length === 0) return -1; const x = p.data[0].x; return x[x.length - 1]; }";

    [Fact]
    public async Task ReplayAtTenTimesSpeedAdvancesAboutTenTimesFasterThanAtOneTimes()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services, "replay-speed@test.local");
        var id = await StoreAsync(op.Id, seconds: 120);

        var page = await browser.LoggedInPageAsync(op.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(page, "/live");
        await page.ClickAsync("#mode-replay");
        await page.WaitForSelectorAsync($"#replay-select option[value='{id}']", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });
        await page.SelectOptionAsync("#replay-select", id.ToString());
        await page.WaitForSelectorAsync("#replay-play");
        await page.WaitForSelectorAsync("#replay-plot.js-plotly-plot");
        await page.ClickAsync("#replay-play");
        await page.WaitForFunctionAsync($"({LastX})() > 0.3");

        // Rates are measured as chart advance over measured wall time, each over a similar wall
        // interval (about 2 s): at 1× until the chart moved 2 s, at 10× until it moved 20 s.
        var rate1 = await MeasureRateAsync(page, advance: 2.0);
        await page.SelectOptionAsync("#replay-speed", "10");
        await page.WaitForFunctionAsync("() => document.getElementById('replay-speed').value === '10'");
        var rate10 = await MeasureRateAsync(page, advance: 20.0);

        // Tolerance: the ratio must be within 5×–20× (nominal 10×); round trips and 60 Hz frame steps
        // blur each rate by tens of milliseconds over the ~2 s intervals.
        var ratio = rate10 / rate1;
        output.WriteLine($"1x: {rate1:0.000} s/s, 10x: {rate10:0.000} s/s, ratio {ratio:0.00}");
        Assert.InRange(rate1, 0.5, 2.0);
        Assert.InRange(ratio, 5, 20);

        // The card's chips show the replay's own clock: playing at 10×.
        await page.WaitForSelectorAsync(".replay-chart .chip-speed:has-text('10×')");
        await page.WaitForSelectorAsync(".replay-chart .chip-state:has-text('playing')");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("replay.png"), FullPage = true });
        await page.ClickAsync("#replay-play");
        await page.WaitForSelectorAsync("#replay-play:has-text('Play')");
        await page.WaitForSelectorAsync(".replay-chart .chip-state:has-text('paused')");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task ASimulationMovesOnlyInItsOwnTabAndStoresNothing()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services, "replay-sim@test.local");
        var me = new Requester(op.Id, op.Email!, IsAdmin: false);
        var catalog = browser.Factory.Services.GetRequiredService<MeasurementCatalog>();
        var before = (await catalog.ListAsync(me, new MeasurementQuery(), CancellationToken.None)).Total;

        var tabA = await browser.LoggedInPageAsync(op.Email!, Users.Password);
        var tabB = await tabA.Context.NewPageAsync();
        await BrowserFixture.GotoInteractiveAsync(tabA, "/live");
        await BrowserFixture.GotoInteractiveAsync(tabB, "/live");
        await tabB.ClickAsync("#mode-simulation");
        await tabB.WaitForSelectorAsync("#sim-start");

        await tabA.ClickAsync("#mode-simulation");
        await tabA.SelectOptionAsync("#sim-channels", "2");
        await tabA.ClickAsync("#sim-start");
        await tabA.WaitForFunctionAsync($"({LastX})() > 0.5");
        var at = await tabA.EvaluateAsync<double>(LastX);
        await tabA.WaitForFunctionAsync($"({LastX})() > {at + 1.0}");
        Assert.Equal(2, await tabA.EvaluateAsync<int>("() => document.getElementById('replay-plot').data.length"));

        // Tab B of the same user, in the same mode, has no simulation and no chart.
        Assert.Null(await tabB.QuerySelectorAsync("#replay-plot"));
        Assert.Null(await tabB.QuerySelectorAsync("#replay-play"));
        Assert.Equal(before, (await catalog.ListAsync(me, new MeasurementQuery(), CancellationToken.None)).Total);
        await tabA.Context.CloseAsync();
    }

    private static async Task<double> MeasureRateAsync(IPage page, double advance)
    {
        var x0 = await page.EvaluateAsync<double>(LastX);
        var watch = Stopwatch.StartNew();
        await page.WaitForFunctionAsync($"({LastX})() > {(x0 + advance).ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        var x1 = await page.EvaluateAsync<double>(LastX);
        return (x1 - x0) / watch.Elapsed.TotalSeconds;
    }

    private async Task<Guid> StoreAsync(string ownerId, int seconds)
    {
        var store = browser.Factory.Services.GetRequiredService<ISampleStore>();
        var id = Guid.CreateVersion7();
        var signal = new KnownSignal(id, 1, [.. Enumerable.Repeat(1000, seconds)], (_, i) => MathF.Sin(2 * MathF.PI * i / 1000f));
        var started = DateTimeOffset.UtcNow.AddSeconds(-seconds - 10);
        var info = KnownSignal.Info(id, 1, ownerId) with { Name = "Replay run", StartedAt = started };
        await store.CreateMeasurementAsync(info, CancellationToken.None);
        await store.WriteChunksAsync(signal.Chunks, CancellationToken.None);
        await store.UpdateMeasurementAsync(info with
        {
            State = MeasurementState.Stopped,
            StopReason = StopReason.User,
            StoppedAt = started.AddSeconds(seconds),
            SampleCount = signal.Length,
        }, CancellationToken.None);
        return id;
    }
}
