using Bunit;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Analysis;
using MeasureApp.Components.Analysis;
using MeasureApp.History;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Analysis;

/// <summary>
/// The cursor readout rendered with bUnit against the real services on a fresh SQLite database: cursors
/// reported by the chart's JS module show t1, t2, Δt, 1/Δt, the values at the cursors and the exact
/// statistics of the span (the same numbers the stats API computes); without cursors the visible range.
/// </summary>
public sealed class CursorReadoutTests : AppComponentTestContext
{
    [Fact]
    public async Task TwoCursorsShowDeltaTTheValuesAtThemAndTheStatisticsOfTheSpan()
    {
        var (record, signal, me) = await StoreAsync();
        var readout = Render<CursorReadout>(p => p
            .Add(c => c.Record, record)
            .Add(c => c.Channels, HistoryService.Channels(record))
            .Add(c => c.ChartId, "detail-chart"));
        // Without cursors: the whole measurement.
        readout.WaitForAssertion(() => Assert.Equal("10,000", Cell(readout, 0, "stat-count")), Wait);
        Assert.Contains(Context.JSInterop.Invocations, i => i.Identifier == "import");

        await readout.InvokeAsync(() => readout.Instance.OnCursorsChanged(1.25, 3.75, null, null));

        readout.WaitForAssertion(() => Assert.Equal("2,501", Cell(readout, 0, "stat-count")), Wait);
        Assert.Equal("1.25 s", readout.Find("#cursor-t1").TextContent.Trim());
        Assert.Equal("3.75 s", readout.Find("#cursor-t2").TextContent.Trim());
        Assert.Equal("2.5 s", readout.Find("#cursor-dt").TextContent.Trim());
        Assert.Equal("0.4 Hz", readout.Find("#cursor-freq").TextContent.Trim());
        var expected = await Factory.Services.GetRequiredService<AnalysisService>().StatisticsAsync(me, record.Id, "1.25", "3.75", null, CancellationToken.None);
        for (var c = 0; c < 2; c++)
        {
            var s = expected!.Value.Statistics.Channels[c];
            Assert.Equal(s.Mean.ToString("G6", System.Globalization.CultureInfo.InvariantCulture), Cell(readout, c, "stat-mean"));
            Assert.Equal(s.Rms.ToString("G6", System.Globalization.CultureInfo.InvariantCulture), Cell(readout, c, "stat-rms"));
            Assert.Equal(s.PeakToPeak.ToString("G6", System.Globalization.CultureInfo.InvariantCulture), Cell(readout, c, "stat-pp"));
            Assert.Equal(signal.Samples[c][1250].ToString("G6", System.Globalization.CultureInfo.InvariantCulture), Cell(readout, c, "at-t1"));
            Assert.Equal(signal.Samples[c][3750].ToString("G6", System.Globalization.CultureInfo.InvariantCulture), Cell(readout, c, "at-t2"));
            Assert.Equal(((double)signal.Samples[c][3750] - signal.Samples[c][1250]).ToString("G6", System.Globalization.CultureInfo.InvariantCulture), Cell(readout, c, "delta-v"));
        }
        var csv = readout.Instance.ToCsv();
        Assert.Contains("channel,unit,value_t1,value_t2,delta,min,max,mean,rms,std,peak_to_peak,count", csv, StringComparison.Ordinal);
        Assert.Contains(",2501", csv, StringComparison.Ordinal);

        // Clearing the cursors goes back to the visible range.
        readout.Render(p => p.Add(c => c.ViewFrom, 2.0).Add(c => c.ViewTo, 2.999));
        await readout.InvokeAsync(() => readout.Instance.OnCursorsChanged(null, null, null, null));
        readout.WaitForAssertion(() => Assert.Equal("1,000", Cell(readout, 0, "stat-count")), Wait);
        Assert.Contains("visible range", readout.Find("#cursor-span").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APausedChartShowsTheReadoutOverTheRangeTheChartReportsAndAPlayingChartOnlyAHint()
    {
        var (record, _, me) = await StoreAsync();
        var module = Context.JSInterop.SetupModule("./js/cursors.js");
        var host = Render<PausedCursors>(p => p
            .Add(c => c.MeasurementId, record.Id)
            .Add(c => c.ChartId, "chart-x")
            .Add(c => c.IdPrefix, "cursor-x")
            .Add(c => c.Paused, false));
        Assert.Single(host.FindAll(".cursor-hint"));
        Assert.Empty(host.FindAll("#cursor-x-readout"));

        host.Render(p => p.Add(c => c.Paused, true));

        host.WaitForAssertion(() => Assert.Single(host.FindAll("#cursor-x-readout")), Wait);
        Assert.Empty(host.FindAll(".cursor-hint"));
        // The chart is asked to report its visible range (live and replay zoom in the browser only).
        host.WaitForAssertion(() => Assert.Equal(true, Assert.Single(module.Invocations["attach"]).Arguments[^1]), Wait);
        var readout = host.FindComponent<CursorReadout>();
        await readout.InvokeAsync(() => readout.Instance.OnViewChanged(2.0, 2.999));
        host.WaitForAssertion(() => Assert.Equal("1,000", Cell(host, "cursor-x", 0, "stat-count")), Wait);
        Assert.Contains("visible range", host.Find("#cursor-x-span").TextContent, StringComparison.Ordinal);

        await readout.InvokeAsync(() => readout.Instance.OnCursorsChanged(1.25, 3.75, null, null));
        host.WaitForAssertion(() => Assert.Equal("2,501", Cell(host, "cursor-x", 0, "stat-count")), Wait);
        Assert.Equal("2.5 s", host.Find("#cursor-x-dt").TextContent.Trim());
        var expected = await Factory.Services.GetRequiredService<AnalysisService>().StatisticsAsync(me, record.Id, "1.25", "3.75", null, CancellationToken.None);
        Assert.Equal(expected!.Value.Statistics.Channels[1].Rms.ToString("G6", System.Globalization.CultureInfo.InvariantCulture), Cell(host, "cursor-x", 1, "stat-rms"));

        // Playing again: the readout goes (and with it the lines, see cursors.js detach).
        host.Render(p => p.Add(c => c.Paused, false));
        Assert.Empty(host.FindAll("#cursor-x-readout"));
        host.WaitForAssertion(() => Assert.Single(module.Invocations["detach"]), Wait);
    }

    [Fact]
    public async Task AnotherUsersMeasurementShowsNoReadoutOnAPausedChart()
    {
        var (record, _, _) = await StoreAsync(asSomeoneElse: true);
        var host = Render<PausedCursors>(p => p
            .Add(c => c.MeasurementId, record.Id)
            .Add(c => c.ChartId, "chart-x")
            .Add(c => c.Paused, true));
        // The catalog's access check answers "not found": nothing of the measurement is shown.
        host.WaitForAssertion(() => Assert.Single(host.FindAll(".cursor-unavailable")), Wait);
        Assert.Empty(host.FindAll(".cursor-readout"));
    }

    [Fact]
    public void ACursorPastWhatTheStoreHadWrittenWhenPausedStaysWhereItWasPlacedOnARunningMeasurement()
    {
        // 24 samples at 1 kHz stored when the chart paused; the chart (ahead of the store) shows more.
        var origin = 1_700_000_000_000_000_000L;
        var times = new SampleRuns([new SampleRun(0, origin, AfterGap: false)], endIndex: 24, sampleRate: 1000);

        // Running: t = 0.1274 s sits on sample 127, not on the last stored one (0.023 s), which measured 24 samples for a 128-sample span.
        Assert.Equal(0.127, CursorReadout.SnapTo(times, 0.1274, open: true)!.Value, 9);
        Assert.Equal(0.005, CursorReadout.SnapTo(times, 0.0052, open: true)!.Value, 9);
        // Stopped: the store has everything there is; past the end is the last sample.
        Assert.Equal(0.023, CursorReadout.SnapTo(times, 0.1274, open: false)!.Value, 9);
        Assert.Null(CursorReadout.SnapTo(times, null, open: true));
    }

    private static string Cell<T>(IRenderedComponent<T> host, string prefix, int channel, string css) where T : Microsoft.AspNetCore.Components.IComponent =>
        host.Find($"#{prefix}-table tr[data-channel='{channel}'] .{css}").TextContent.Trim();

    private static string Cell(IRenderedComponent<CursorReadout> readout, int channel, string css) =>
        readout.Find($"#cursor-table tr[data-channel='{channel}'] .{css}").TextContent.Trim();

    // asSomeoneElse: the measurement belongs to another operator than the one rendering.
    private async Task<(MeasureApp.Data.MeasurementRecord, KnownSignal, Requester)> StoreAsync(bool asSomeoneElse = false)
    {
        var user = await Users.CreateOperatorAsync(Factory.Services);
        var me = new Requester(user.Id, user.Email!, IsAdmin: false);
        var viewer = me;
        if (asSomeoneElse)
        {
            var other = await Users.CreateOperatorAsync(Factory.Services);
            viewer = new Requester(other.Id, other.Email!, IsAdmin: false);
        }
        Provide<AnalysisService>();
        Provide<MeasurementCatalog>();
        SignIn(viewer);
        var store = Factory.Services.GetRequiredService<ISampleStore>();
        var id = Guid.NewGuid();
        var signal = new KnownSignal(id, 2, [.. Enumerable.Repeat(500, 20)], (c, i) => (float)(1 + c + Math.Sin(i * 0.01) * (c + 1)));
        await store.CreateMeasurementAsync(KnownSignal.Info(id, 2, user.Id, MeasurementState.Stopped, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow, 10_000), CancellationToken.None);
        await store.WriteChunksAsync(signal.Chunks, CancellationToken.None);
        var record = await Factory.Services.GetRequiredService<MeasurementCatalog>().FindAsync(me, id, CancellationToken.None);
        return (record!, signal, me);
    }
}
