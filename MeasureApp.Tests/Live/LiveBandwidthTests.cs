using MeasureApp.Acquisition.Accounting;
using MeasureApp.Identity;
using MeasureApp.Limits;
using MeasureApp.Live;
using MeasureApp.Tests.Acquisition;
using MeasureApp.Tests.Relay;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;
using static MeasureApp.Tests.Acquisition.EngineHarness;

namespace MeasureApp.Tests.Live;

public sealed class LiveBandwidthTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1.0 / UserSession.MaxFramesPerSecond);

    [Fact]
    public async Task ATinyLimitSlowsTheRendersButNoSampleIsLostAndRaisingItRestoresThem()
    {
        const long tinyLimit = 2_000;
        await using var h = await EngineHarness.StartNewAsync();
        await using var db = await TestDatabase.CreateAsync();
        await db.SetLiveBandwidthAsync(Alice.UserId, tinyLimit);
        var limits = new LimitsService(db, new FixedOptions<LimitsOptions>(new LimitsOptions()));
        var governor = new LiveBandwidthGovernor(limits, h.Time, NullLogger<LiveBandwidthGovernor>.Instance);
        await using var tab = new UserSession(h.Engine, h.Hub, limits, new CurrentUser(new LoggedIn(Alice)), h.Time, NullLogger<UserSession>.Instance, bandwidth: governor);
        tab.SetWindow(TimeSpan.FromSeconds(1));
        var started = h.Time.GetTimestamp();
        var m = await h.StartMeasurementAsync(Alice, Request(rate: 1000));

        var renders = 0;
        long bytes = 0, largest = 0;
        var statuses = new List<ChartStatus>();
        using var chart = await tab.AttachAsync(m.Id, 200, frame =>
        {
            var size = TrafficEstimate.BrowserBytes(frame);
            renders++;
            bytes += size;
            largest = Math.Max(largest, size);
            return Task.CompletedTask;
        }, s => statuses.Add(s));
        Assert.NotNull(chart);

        // The device's pacing timer may start on the fake clock a few ticks after the start returned:
        // begin counting once the first frame went through.
        var warmup = TimeSpan.Zero;
        while (renders == 0)
        {
            Assert.True(warmup < TimeSpan.FromSeconds(10), "the first frame arrives");
            await RunAsync(h, tab, Tick);
            warmup += Tick;
        }
        var firstFrame = largest;
        (renders, bytes, largest) = (0, 0, 0);
        statuses.Clear();

        // Throttled: 5 s at 60 ticks per second, longer (on the fake clock) until a frame went through: the
        // first frame may have overdrawn the budget by more than the window refills when it was large.
        var throttledFor = TimeSpan.FromSeconds(5);
        await RunAsync(h, tab, throttledFor);
        while (renders == 0)
        {
            Assert.True(throttledFor < TimeSpan.FromSeconds(30), FormattableString.Invariant($"a throttled frame goes through (first frame {firstFrame} B, limit {governor.LimitOf(Alice.UserId)} B/s)"));
            await RunAsync(h, tab, Tick);
            throttledFor += Tick;
        }
        var (throttledRenders, throttledBytes) = (renders, bytes);
        var throttledStatuses = statuses.ToList();

        // The admin raises the limit; open tabs pick it up at the next refresh, without reattaching.
        await db.SetLiveBandwidthAsync(Alice.UserId, 10_000_000);
        var waited = TimeSpan.Zero;
        while (governor.LimitOf(Alice.UserId) != 10_000_000)
        {
            Assert.True(waited < LiveBandwidthGovernor.LimitRefresh * 3, "the raised limit applies within seconds");
            await RunAsync(h, tab, Tick);
            waited += Tick;
        }
        (renders, bytes, statuses) = (0, 0, []);
        await RunAsync(h, tab, TimeSpan.FromSeconds(5));

        output.WriteLine(FormattableString.Invariant($"{throttledFor.TotalSeconds:0.###} s at {tinyLimit} B/s: {throttledRenders} renders, {throttledBytes} B (first frame {firstFrame} B); 5 s at 10 MB/s: {renders} renders, {bytes} B"));
        // The token bucket's bound: one second of burst, the limit per second, and the render that overdrew it.
        Assert.InRange(throttledBytes, 1, tinyLimit + (long)(tinyLimit * throttledFor.TotalSeconds) + largest);
        Assert.Contains(throttledStatuses, s => s.Throttled);
        // Samples keep arriving at the full rate while frames are held back. Averaged over the windows:
        // under load the driver's timer can deliver a window's samples in the next one.
        Assert.InRange(throttledStatuses.Skip(1).Average(s => s.SamplesPerSecond), 800, 1200);
        Assert.True(renders > 3 * throttledRenders, $"raising the limit restores the frame rate ({throttledRenders} renders throttled, {renders} after)");
        Assert.False(statuses[^1].Throttled);

        // Recording never noticed: every sample acquired is stored.
        var acquired = (long)(h.Time.GetElapsedTime(started).TotalSeconds * 1000);
        await h.Driver.WaitForSamplesAsync(m.Id, acquired);
        var stopped = h.WhenStopped(Alice.UserId, m.Id);
        Assert.True(await h.Engine.StopAsync(m.Id, Alice, CancellationToken.None));
        var info = await stopped;
        Assert.True(info.SampleCount >= acquired, $"{info.SampleCount} of {acquired} samples acquired");
        Assert.Equal(info.SampleCount, h.Store.Chunks(m.Id).Sum(c => (long)c.SampleCount));
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
