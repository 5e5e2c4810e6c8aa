using MeasureApp.Identity;
using MeasureApp.Live;
using MeasureApp.Monitoring;
using MeasureApp.Tests.Acquisition;
using MeasureApp.Tests.Relay;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using static MeasureApp.Tests.Acquisition.EngineHarness;

namespace MeasureApp.Tests.Monitoring;

public sealed class SessionLatencyTests
{
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1.0 / UserSession.MaxFramesPerSecond);

    [Fact]
    public async Task EveryChartRenderRecordsOneLatencyAndClosingTheTabRecordsNoMore()
    {
        await using var h = await EngineHarness.StartNewAsync();
        var stats = new LiveLatencyStats(h.Time);
        var tab = new UserSession(h.Engine, h.Hub, null!, new CurrentUser(new LoggedIn(Alice)), h.Time, NullLogger<UserSession>.Instance, latencyStats: stats);
        await using (tab)
        {
            tab.SetWindow(TimeSpan.FromSeconds(1));
            var started = h.Time.GetTimestamp();
            var m = await h.StartMeasurementAsync(Alice, Request(rate: 1000));
            var renders = 0;
            var statuses = new List<ChartStatus>();
            using (var chart = await tab.AttachAsync(m.Id, 200, _ =>
            {
                renders++;
                return Task.CompletedTask;
            }, statuses.Add))
            {
                Assert.NotNull(chart);
                Assert.Null(stats.Percentiles());
                // The device's pacing timer may start on the fake clock a few ticks after the start
                // returned; under load its ticks can also bunch up, so fewer (larger) frames arrive.
                var warmup = TimeSpan.Zero;
                while (renders == 0)
                {
                    Assert.True(warmup < TimeSpan.FromSeconds(5), "the first frame arrives");
                    await RunAsync(h, tab, Tick);
                    warmup += Tick;
                }
                await RunAsync(h, tab, TimeSpan.FromSeconds(2));
            }

            var p = stats.Percentiles();
            Assert.NotNull(p);
            Assert.True(renders >= 3, $"{renders} renders in 2 s");
            Assert.Equal(renders, p.Count);
            // Under the fake clock a render is instant: the latency is the newest sample's age on that clock. It is
            // a few ticks on an idle machine; under load the pipeline can hold samples while the clock is stepped, so
            // the bound that cannot move is the measurement's own age (a wrong clock or unit would exceed it).
            var age = h.Time.GetElapsedTime(started).TotalMilliseconds;
            Assert.InRange(p.P50Ms, 0, age);
            Assert.InRange(p.P99Ms, p.P50Ms, age);
            Assert.Contains(statuses, s => s.LatencyMs >= p.P50Ms && s.LatencyMs <= p.P99Ms);

            // Detached: the loop ends with the last chart, nothing more is recorded.
            await Eventually.TrueAsync(() => !tab.IsDraining, "the drain loop ends with the last chart", eachRound: () => h.Time.Advance(Tick));
            Assert.Equal(renders, stats.Percentiles()!.Count);
            Assert.True(await h.Engine.StopAsync(m.Id, Alice, CancellationToken.None));
        }
    }

    // Moves the fake clock tick by tick, each time until the tab's drain loop has run.
    private static async Task RunAsync(EngineHarness h, UserSession tab, TimeSpan span)
    {
        for (var t = TimeSpan.Zero; t < span; t += Tick)
        {
            var before = tab.DrainTicks;
            h.Time.Advance(Tick);
            await Eventually.TrueAsync(() => tab.DrainTicks > before, "the drain loop ticked");
        }
    }
}
