using MeasureApp.Live;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Replay;

/// <summary>The tab's own playback clock, driven by a fake clock (no waiting).</summary>
public sealed class ReplayClockTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void AtTenTimesSpeedTheClockAdvancesTenSecondsPerSecond()
    {
        var clock = new ReplayClock(_time);
        clock.SetSpeed(10);
        clock.Resume();

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(10, clock.Position, 9);
        _time.Advance(TimeSpan.FromSeconds(0.5));
        Assert.Equal(15, clock.Position, 9);
    }

    [Fact]
    public void TheClockStartsPausedAtZero()
    {
        var clock = new ReplayClock(_time);
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(clock.Paused);
        Assert.Equal(0, clock.Position);
    }

    [Fact]
    public void PausingFreezesThePositionAndResumingContinuesFromIt()
    {
        var clock = new ReplayClock(_time);
        clock.Resume();
        _time.Advance(TimeSpan.FromSeconds(2));
        clock.Pause();
        _time.Advance(TimeSpan.FromSeconds(100));
        Assert.Equal(2, clock.Position, 9);

        clock.Resume();
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(3, clock.Position, 9);
    }

    [Fact]
    public void SeekingJumpsAndKeepsPlaying()
    {
        var clock = new ReplayClock(_time);
        clock.SetSpeed(2);
        clock.Resume();
        _time.Advance(TimeSpan.FromSeconds(1));
        clock.Seek(30);
        Assert.Equal(30, clock.Position, 9);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(32, clock.Position, 9);
    }

    [Fact]
    public void SeekingWhilePausedStaysPaused()
    {
        var clock = new ReplayClock(_time);
        clock.Seek(7);
        _time.Advance(TimeSpan.FromSeconds(3));
        Assert.True(clock.Paused);
        Assert.Equal(7, clock.Position, 9);
    }

    [Fact]
    public void ChangingSpeedKeepsThePositionReachedSoFar()
    {
        var clock = new ReplayClock(_time);
        clock.Resume();
        _time.Advance(TimeSpan.FromSeconds(4));
        clock.SetSpeed(0.1);
        Assert.Equal(4, clock.Position, 9);
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(5, clock.Position, 9);
    }

    [Theory]
    [InlineData(0.09)]
    [InlineData(100.5)]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void SpeedsOutsideOneTenthToOneHundredAreRefused(double speed)
    {
        var clock = new ReplayClock(_time);
        Assert.Throws<ArgumentOutOfRangeException>(() => clock.SetSpeed(speed));
        Assert.Equal(1, clock.Speed);
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(100)]
    public void TheSpeedLimitsThemselvesAreAccepted(double speed)
    {
        var clock = new ReplayClock(_time);
        clock.SetSpeed(speed);
        Assert.Equal(speed, clock.Speed);
    }

    [Fact]
    public void NegativeSeeksAreRefused()
    {
        var clock = new ReplayClock(_time);
        Assert.Throws<ArgumentOutOfRangeException>(() => clock.Seek(-0.5));
    }
}
