using MeasureApp.Identity;
using MeasureApp.Live;
using MeasureApp.Tests.Acquisition;
using MeasureApp.Tests.Relay;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using static MeasureApp.Tests.Acquisition.EngineHarness;

namespace MeasureApp.Tests.Live;

/// <summary>A tab's drain loop: one chart's failure stays that chart's, and an idle tab runs no loop.</summary>
public sealed class DrainLoopTests
{
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1.0 / UserSession.MaxFramesPerSecond);

    [Fact]
    public async Task OneFailingChartIsDetachedAndToldWhileTheOtherChartsOfTheTabKeepDrawing()
    {
        await using var h = await EngineHarness.StartNewAsync(writerTime: TimeProvider.System);
        await using var tab = new UserSession(h.Engine, h.Hub, null!, new CurrentUser(new LoggedIn(Alice)), h.Time, NullLogger<UserSession>.Instance);
        tab.SetWindow(TimeSpan.FromSeconds(1));
        var m = await h.StartMeasurementAsync(Alice, Request(rate: 1000));
        Exception? fault = null;
        using var broken = await tab.AttachAsync(m.Id, 200, _ => throw new InvalidOperationException("chart broke"), _ => { }, ex => fault = ex);
        var renders = 0;
        using var healthy = await tab.AttachAsync(m.Id, 200, _ =>
        {
            renders++;
            return Task.CompletedTask;
        }, _ => { });
        Assert.NotNull(broken);
        Assert.NotNull(healthy);

        await StepUntilAsync(h, tab, () => renders >= 10, () => $"the healthy chart keeps drawing ({renders} renders)");

        Assert.IsType<InvalidOperationException>(fault);
        Assert.True(await h.Engine.StopAsync(m.Id, Alice, CancellationToken.None));
    }

    [Fact]
    public async Task AnIdleTabRunsNoDrainLoopAndTheNextChartStartsItAgain()
    {
        await using var h = await EngineHarness.StartNewAsync(writerTime: TimeProvider.System);
        await using var tab = new UserSession(h.Engine, h.Hub, null!, new CurrentUser(new LoggedIn(Alice)), h.Time, NullLogger<UserSession>.Instance);
        var m = await h.StartMeasurementAsync(Alice, Request(rate: 1000));
        Assert.False(tab.IsDraining);

        var first = await tab.AttachAsync(m.Id, 200, _ => Task.CompletedTask, _ => { });
        Assert.NotNull(first);
        Assert.True(tab.IsDraining);
        first.Dispose();
        await Eventually.TrueAsync(() => !tab.IsDraining, "the loop ends with the last chart", eachRound: () => h.Time.Advance(Tick));

        var renders = 0;
        using var second = await tab.AttachAsync(m.Id, 200, _ =>
        {
            renders++;
            return Task.CompletedTask;
        }, _ => { });
        Assert.True(tab.IsDraining);
        await StepUntilAsync(h, tab, () => renders > 0,
            () => $"the second chart draws: ticks {tab.DrainTicks}, state {h.Engine.Find(m.Id, Alice)?.State}, samples {h.Engine.Find(m.Id, Alice)?.SampleCount}");
        Assert.True(await h.Engine.StopAsync(m.Id, Alice, CancellationToken.None));
    }

    /// <summary>
    /// Moves the fake clock tick by tick, each time waiting until the tab's drain loop has run it, until
    /// <paramref name="done"/>. Bounded by real time, not by fake time: the simulated device and the engine's
    /// pipeline run on the thread pool, and on a loaded machine the stepping can run far ahead of them in fake
    /// time before their first block arrives (a bound of 10 fake seconds failed once with 0 samples).
    /// </summary>
    internal static async Task StepUntilAsync(EngineHarness h, UserSession tab, Func<bool> done, Func<string> what)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!done())
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(60), what());
            var before = tab.DrainTicks;
            h.Time.Advance(Tick);
            await Eventually.TrueAsync(() => tab.DrainTicks > before, "the drain loop ticked");
        }
    }
}
