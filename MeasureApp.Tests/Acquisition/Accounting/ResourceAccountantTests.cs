using System.Diagnostics;
using MeasureApp.Acquisition.Accounting;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Acquisition.Accounting;

public sealed class ResourceAccountantTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void RatesAreTheDeltaBetweenSnapshotsOverElapsedFakeTime()
    {
        var accountant = new ResourceAccountant(_time);
        accountant.AddSamples("alice", 1000, channels: 2);
        accountant.AddBytesToBrowser("alice", 4000);
        accountant.AddPipelineTicks("alice", Stopwatch.Frequency / 2);
        accountant.AddDrops("alice", 3);

        _time.Advance(TimeSpan.FromSeconds(2));
        var first = accountant.Snapshot().Single();
        accountant.AddSamples("alice", 300, channels: 2);
        accountant.AddBytesToBrowser("alice", 100);
        _time.Advance(TimeSpan.FromSeconds(1));
        var second = accountant.Snapshot().Single();

        Assert.Equal(500, first.SamplesPerSecond);
        Assert.Equal(1000, first.ValuesPerSecond);
        Assert.Equal(2000, first.BytesToBrowserPerSecond);
        Assert.Equal(25, first.PipelinePercent, precision: 6);
        Assert.Equal(1.5, first.DroppedFramesPerSecond);
        Assert.Equal(TimeSpan.FromSeconds(0.5), first.PipelineTime);
        Assert.Equal(300, second.SamplesPerSecond);
        Assert.Equal(100, second.BytesToBrowserPerSecond);
        Assert.Equal(0, second.PipelinePercent);
        Assert.Equal(0, second.DroppedFramesPerSecond);
        Assert.Equal(1300, second.Samples);
        Assert.Equal(4100, second.BytesToBrowser);
        Assert.Equal(3, second.DroppedFrames);
    }

    [Fact]
    public void RatesAreZeroUntilTheFirstIntervalHasPassed()
    {
        var accountant = new ResourceAccountant(_time);
        accountant.AddSamples("alice", 1000);

        var usage = accountant.Snapshot().Single();

        Assert.Equal(1000, usage.Samples);
        Assert.Equal(0, usage.SamplesPerSecond);
    }

    [Fact]
    public void SnapshotsCloserThanTheMinimumIntervalKeepThePreviousRates()
    {
        var accountant = new ResourceAccountant(_time);
        accountant.AddSamples("alice", 1000);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1000, accountant.Snapshot().Single().SamplesPerSecond);

        // A second admin page polling right after the first must not see a 10 ms window.
        accountant.AddSamples("alice", 7);
        _time.Advance(TimeSpan.FromMilliseconds(10));
        var soon = accountant.Snapshot().Single();
        _time.Advance(ResourceAccountant.MinRateInterval);
        var later = accountant.Snapshot().Single();

        Assert.Equal(1000, soon.SamplesPerSecond);
        Assert.Equal(1007, soon.Samples);
        Assert.Equal(7 / (0.010 + ResourceAccountant.MinRateInterval.TotalSeconds), later.SamplesPerSecond, precision: 9);
    }

    [Fact]
    public void EachUserSeesOnlyTheirOwnCountsInTheirOwnRowSortedById()
    {
        var accountant = new ResourceAccountant(_time);
        accountant.AddSamples("bob", 5);
        accountant.AddSamples("alice", 7);
        accountant.AddBytesToBrowser("carol", 11);

        var snapshot = accountant.Snapshot();

        Assert.Equal(["alice", "bob", "carol"], snapshot.Select(u => u.UserId));
        Assert.Equal([7L, 5L, 0L], snapshot.Select(u => u.Samples));
        Assert.Equal([0L, 0L, 11L], snapshot.Select(u => u.BytesToBrowser));
    }

    [Fact]
    public async Task ConcurrentChargesFromSeveralThreadsSumExactly()
    {
        var accountant = new ResourceAccountant(_time);
        const int Threads = 4;
        const int PerThread = 50_000;
        using var start = new Barrier(Threads);

        await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            // Every thread also races on creating the meter of a user seen for the first time.
            var user = $"user{t % 2}";
            start.SignalAndWait();
            for (var i = 0; i < PerThread; i++)
            {
                accountant.AddSamples(user, 3, channels: 2);
                accountant.AddPipelineTicks(user, 1);
                accountant.AddBytesToBrowser(user, 16);
                accountant.AddDrops(user, 1);
                accountant.AddBufferBytes(user, 100);
                accountant.For(user).MeasurementStarted();
                accountant.For(user).SubscriptionOpened();
                accountant.AddBufferBytes(user, -100);
                accountant.For(user).MeasurementStopped();
            }
        })));

        var snapshot = accountant.Snapshot();
        Assert.Equal(2, snapshot.Count);
        foreach (var u in snapshot)
        {
            const long PerUser = 2L * PerThread;
            Assert.Equal(3 * PerUser, u.Samples);
            Assert.Equal(6 * PerUser, u.Values);
            Assert.Equal(TimeSpan.FromSeconds((double)PerUser / Stopwatch.Frequency), u.PipelineTime);
            Assert.Equal(16 * PerUser, u.BytesToBrowser);
            Assert.Equal(PerUser, u.DroppedFrames);
            Assert.Equal(0, u.BufferBytes);
            Assert.Equal(0, u.RunningMeasurements);
            Assert.Equal(PerUser, u.MeasurementsStarted);
            Assert.Equal(PerUser, u.OpenSubscriptions);
        }
    }
}
