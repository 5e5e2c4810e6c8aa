using MeasureApp.Live;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Live;

/// <summary>Every live tab draws on one shared frame tick, and the clock keeps no timer while nobody waits.</summary>
public sealed class FrameClockTests
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(1.0 / UserSession.MaxFramesPerSecond);

    [Fact]
    public async Task EveryWaiterWakesOnTheSameTick()
    {
        var time = new FakeTimeProvider();
        using var clock = new FrameClock(time);

        var waiters = Enumerable.Range(0, 100).Select(_ => clock.NextTickAsync(CancellationToken.None)).ToArray();
        Assert.All(waiters, w => Assert.False(w.IsCompleted));
        time.Advance(Period);

        await Task.WhenAll(waiters);
        Assert.Equal(1, clock.Ticks);
    }

    [Fact]
    public async Task TheTimerStopsWhenNobodyWaitedForAWholePeriodAndStartsAgainOnTheNextWait()
    {
        var time = new FakeTimeProvider();
        using var clock = new FrameClock(time);
        Assert.False(clock.IsRunning);

        var first = clock.NextTickAsync(CancellationToken.None);
        Assert.True(clock.IsRunning);
        time.Advance(Period);
        await first;
        // A period with no waiter: the tick at its end stops the timer.
        time.Advance(Period);
        Assert.False(clock.IsRunning);
        time.Advance(Period * 10);
        Assert.Equal(2, clock.Ticks);

        var again = clock.NextTickAsync(CancellationToken.None);
        Assert.True(clock.IsRunning);
        time.Advance(Period);
        await again;
        Assert.Equal(3, clock.Ticks);
    }

    [Fact]
    public async Task AWaitEndsWhenItsTokenIsCancelled()
    {
        var time = new FakeTimeProvider();
        using var clock = new FrameClock(time);
        using var stop = new CancellationTokenSource();

        var wait = clock.NextTickAsync(stop.Token);
        await stop.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        Assert.Equal(0, clock.Ticks);
    }
}
