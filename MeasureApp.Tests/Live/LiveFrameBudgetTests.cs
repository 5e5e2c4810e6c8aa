using MeasureApp.Identity;
using MeasureApp.Live;
using MeasureApp.Tests.Acquisition;
using MeasureApp.Tests.Relay;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using static MeasureApp.Tests.Acquisition.EngineHarness;

namespace MeasureApp.Tests.Live;

/// <summary>
/// The server's live frame budget: tabs with live charts share a number of drain ticks per second, so many tabs
/// lower every tab's rate alike; few tabs draw at the full 60 Hz.
/// </summary>
public sealed class LiveFrameBudgetTests
{
    private static readonly TimeSpan Fastest = TimeSpan.FromSeconds(1.0 / UserSession.MaxFramesPerSecond);

    private static LiveFrameBudget Budget(int perServer) => new(Options.Create(new LiveOptions { FramesPerSecondPerServer = perServer }));

    [Fact]
    public void TabsWithinTheBudgetDrawAtSixtyHertzAndMoreTabsShareItAlike()
    {
        var budget = Budget(600);
        var tabs = Enumerable.Range(0, 10).Select(_ => budget.Join()).ToList();
        Assert.Equal(Fastest, budget.Interval);

        tabs.AddRange(Enumerable.Range(0, 20).Select(_ => budget.Join()));
        Assert.Equal(30, budget.Tabs);
        Assert.Equal(TimeSpan.FromSeconds(30 / 600.0), budget.Interval); // 20 Hz each

        foreach (var tab in tabs.Skip(10))
        {
            tab.Dispose();
            tab.Dispose(); // leaving twice counts once
        }
        Assert.Equal(10, budget.Tabs);
        Assert.Equal(Fastest, budget.Interval);
    }

    [Fact]
    public void ZeroMeansNoBudget()
    {
        var budget = Budget(0);
        var tabs = Enumerable.Range(0, 1000).Select(_ => budget.Join()).ToList();
        Assert.Equal(Fastest, budget.Interval);
        tabs.ForEach(t => t.Dispose());
    }

    [Fact]
    public async Task ATabsDrainLoopFollowsTheBudgetAsOtherTabsComeAndGo()
    {
        var budget = Budget(120);
        await using var h = await EngineHarness.StartNewAsync(writerTime: TimeProvider.System);
        await using var tab = new UserSession(h.Engine, h.Hub, null!, new CurrentUser(new LoggedIn(Alice)), h.Time, NullLogger<UserSession>.Instance, budget: budget);
        var m = await h.StartMeasurementAsync(Alice, Request(rate: 1000));
        using var chart = await tab.AttachAsync(m.Id, 200, _ => Task.CompletedTask, _ => { });
        Assert.Equal(1, budget.Tabs);
        Assert.Equal(Fastest, tab.DrainInterval);

        // Three more tabs: 120 ticks per second shared by four is 30 Hz each; the loop takes it at its next tick.
        var others = Enumerable.Range(0, 3).Select(_ => budget.Join()).ToList();
        await TickAsync(h, tab, Fastest);
        Assert.Equal(TimeSpan.FromSeconds(4 / 120.0), tab.DrainInterval);

        others.ForEach(o => o.Dispose());
        await TickAsync(h, tab, TimeSpan.FromSeconds(4 / 120.0));
        Assert.Equal(Fastest, tab.DrainInterval);

        // The last chart detaching ends the loop, and the tab no longer counts.
        chart!.Dispose();
        await Eventually.TrueAsync(() => !tab.IsDraining, "the loop ends with the last chart", eachRound: () => h.Time.Advance(Fastest));
        await Eventually.TrueAsync(() => budget.Tabs == 0, "the ended loop left the budget");
        Assert.True(await h.Engine.StopAsync(m.Id, Alice, CancellationToken.None));
    }

    // Moves the fake clock by one interval and waits until the tab's drain loop has run that tick.
    private static async Task TickAsync(EngineHarness h, UserSession tab, TimeSpan interval)
    {
        var before = tab.DrainTicks;
        h.Time.Advance(interval);
        await Eventually.TrueAsync(() => tab.DrainTicks > before, "the drain loop ticked");
    }
}
