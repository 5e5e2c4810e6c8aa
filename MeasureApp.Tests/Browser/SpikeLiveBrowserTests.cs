using System.Text.Json;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.History;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Browser;

/// <summary>
/// Issue 4: a 100 kHz simulated signal whose single-sample spikes (the Simulated driver's seeded
/// spikes, 5× the amplitude above a ±1 V sine) must survive decimation: in the live chart's trace in
/// Chromium and in the zoomed-out overview of the detail page, with their exact values. The generator
/// is deterministic, so the test knows every spike's index and value.
/// </summary>
public sealed class SpikeLiveBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Rate = 100_000;

    // Anything above this is a spike: the sine with noise stays within ±1.02, a spike adds 5.
    private const double SpikeThreshold = 3;

    // x and y of the first trace of the first chart matching the selector, or null before the first point.
    private const string TraceJs = """
        selector => {
            const el = document.querySelector(selector);
            if (!el || !el.data || !el.data[0] || !el.data[0].x || el.data[0].x.length === 0) return null;
            return { x: Array.from(el.data[0].x), y: Array.from(el.data[0].y) };
        }
        """;

    [Fact]
    public async Task EverySpikeOfA100KHzSignalKeepsItsValueInTheLiveTraceAndInTheHistoryOverview()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services);
        var engine = browser.Factory.Services.GetRequiredService<MeasurementEngine>();
        var device = engine.Devices[0];
        Assert.True(device.SpikeProbability > 0, "the first configured device injects spikes");
        var page = await browser.LoggedInPageAsync(op.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(page, "/live");

        await LivePageDriver.StartMeasurementAsync(page, "Spike 100k", sampleRate: Rate, channels: 1);
        var card = page.Locator(".live-chart", new PageLocatorOptions { HasText = "Spike 100k" });
        await card.WaitForAsync();
        var id = Guid.Parse((await card.GetAttributeAsync("data-measurement"))!);
        const string liveSelector = ".live-chart .js-plotly-plot";

        // Wait until the live trace holds three spikes, then judge the trace as it is.
        await page.WaitForFunctionAsync($"() => {{ const t = ({TraceJs})('{liveSelector}'); return t !== null && t.y.filter(v => v > {SpikeThreshold}).length >= 3; }}",
            null, new PageWaitForFunctionOptions { Timeout = 60_000 });
        var live = await TraceAsync(page, liveSelector);

        var indices = live.X.Select(x => (long)Math.Round(x * Rate)).ToArray();
        var samplesPerColumn = new LiveView(1000, TimeSpan.FromSeconds(10)).SamplesPerColumn(Rate);
        var expected = Generate(device, indices.Min(), indices.Max() + 1);

        // Every point above the sine is a real spike at its own index with its exact value (never an average).
        var spikePoints = 0;
        for (var p = 0; p < indices.Length; p++)
        {
            if (live.Y[p] > SpikeThreshold)
            {
                spikePoints++;
                Assert.True(expected.Spikes.Contains(indices[p]), $"point at sample {indices[p]} ({live.Y[p]}) is not a generated spike");
                Assert.Equal(expected.Value(indices[p]), live.Y[p], 4);
            }
        }
        Assert.True(spikePoints >= 3);

        // Every generated spike of a column the chart received is drawn: the largest of its column keeps its value.
        // (The oldest column may have lost points to the chart's rolling point limit: it is not judged.)
        var columnsShown = indices.Select(i => i / samplesPerColumn).ToHashSet();
        columnsShown.Remove(columnsShown.Min());
        var checkedSpikes = 0;
        foreach (var column in expected.Spikes.GroupBy(s => s / samplesPerColumn).Where(g => columnsShown.Contains(g.Key)))
        {
            var top = column.MaxBy(expected.Value);
            var at = Array.IndexOf(indices, top);
            Assert.True(at >= 0, $"spike at sample {top} ({expected.Value(top)}) is missing from the live trace");
            Assert.Equal(expected.Value(top), live.Y[at], 4);
            checkedSpikes++;
        }
        Assert.True(checkedSpikes >= 3);

        // Stop, then the detail page's zoomed-out overview (pyramid, not raw) shows every spike of the measurement.
        await card.Locator(".stop-button").ClickAsync();
        await card.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Detached });
        var record = await browser.Factory.Services.GetRequiredService<MeasurementCatalog>()
            .FindAsync(new Requester(op.Id, op.Email!, IsAdmin: false), id, CancellationToken.None);
        Assert.NotNull(record);
        Assert.Equal(MeasurementState.Stopped, record.State);
        var stored = Generate(device, 0, record.SampleCount);
        Assert.True(stored.Spikes.Count >= 3);

        await BrowserFixture.GotoInteractiveAsync(page, $"/measurements/{id}");
        const string detailSelector = "#detail-chart";
        await page.WaitForFunctionAsync($"() => ({TraceJs})('{detailSelector}') !== null");
        await Assertions.Expect(page.Locator("#detail-caption")).ToContainTextAsync("pyramid level");
        var overview = await TraceAsync(page, detailSelector);
        Assert.True(overview.X.Count < record.SampleCount / 10, "the overview is decimated");
        Assert.Equal(stored.Spikes.Max(stored.Value), overview.Y.Max(), 4);
        // A spike sharing an overview column with a larger one is legitimately hidden by it: only lone ones are required.
        var apart = record.SampleCount / 300;
        foreach (var spike in stored.Spikes.Where(s => stored.Spikes.All(o => o == s || Math.Abs(o - s) > apart)))
        {
            Assert.Contains(overview.Y, y => Math.Abs(y - stored.Value(spike)) < 1e-4);
        }
        await page.Context.CloseAsync();
    }

    private sealed record Trace(List<double> X, List<double> Y);

    private static async Task<Trace> TraceAsync(IPage page, string selector)
    {
        var json = (await page.EvaluateAsync<JsonElement?>(TraceJs, selector))!.Value;
        return new Trace(
            [.. json.GetProperty("x").EnumerateArray().Select(e => e.GetDouble())],
            [.. json.GetProperty("y").EnumerateArray().Select(e => e.GetDouble())]);
    }

    private sealed record Generated(long First, float[] Values, List<long> Spikes)
    {
        public double Value(long index) => Values[index - First];
    }

    // Channel 0 of the device as the Simulated driver produces it for samples [from, to).
    private static Generated Generate(DeviceOptions device, long from, long to)
    {
        var values = new float[to - from];
        var channel = device.Channels.Count > 0 ? device.Channels[0] : new SimulatedChannelOptions();
        var spikes = SignalGenerator.Fill(values, from, Rate, channel, device.Seed, 0, device.SpikeProbability) ?? [];
        return new Generated(from, values, [.. spikes.Select(i => from + i)]);
    }
}
