using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Measurements;

namespace MeasureApp.Tests.Acquisition;

public sealed class MeasurementLifecycleTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    [Fact]
    public void AMeasurementGoesFromStartingToRunningToStopped()
    {
        var m = NewMeasurement();
        Assert.Equal(MeasurementState.Starting, m.State);

        Assert.True(m.MarkRunning());
        Assert.Equal(MeasurementState.Running, m.State);
        Assert.False(m.MarkRunning());

        Assert.True(m.MarkStopped(StopReason.User, T0.AddSeconds(3), "pressed stop"));
        var info = m.Snapshot();
        Assert.Equal(MeasurementState.Stopped, info.State);
        Assert.Equal(StopReason.User, info.StopReason);
        Assert.Equal("pressed stop", info.StopDetail);
        Assert.Equal(T0.AddSeconds(3), info.StoppedAt);
    }

    [Fact]
    public void AMeasurementStoppedWhileStartingNeverRuns()
    {
        var m = NewMeasurement();

        Assert.True(m.MarkStopped(StopReason.DeviceError, T0, "no device"));

        Assert.False(m.MarkRunning());
        Assert.Equal(MeasurementState.Stopped, m.State);
        Assert.Equal(StopReason.DeviceError, m.Snapshot().StopReason);
    }

    [Fact]
    public void TheFirstStopReasonWins()
    {
        var m = NewMeasurement();
        m.MarkRunning();

        Assert.True(m.MarkStopped(StopReason.Duration, T0.AddSeconds(1), "Requested duration reached."));
        Assert.False(m.MarkStopped(StopReason.Admin, T0.AddSeconds(2), "admin"));
        Assert.False(m.MarkStopped(StopReason.User, T0.AddSeconds(3)));

        var info = m.Snapshot();
        Assert.Equal(StopReason.Duration, info.StopReason);
        Assert.Equal("Requested duration reached.", info.StopDetail);
        Assert.Equal(T0.AddSeconds(1), info.StoppedAt);
    }

    [Fact]
    public async Task OfManyConcurrentStopsExactlyOneWins()
    {
        var m = NewMeasurement();
        m.MarkRunning();
        var reasons = new[] { StopReason.User, StopReason.Duration, StopReason.Limit, StopReason.Admin, StopReason.DeviceError, StopReason.Shutdown };

        var won = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => Task.Run(() => m.MarkStopped(reasons[i % reasons.Length], T0))));

        Assert.Single(won, w => w);
        Assert.Contains(m.Snapshot().StopReason, reasons);
    }

    [Fact]
    public void StoppingWithoutAReasonThrows()
    {
        var m = NewMeasurement();

        Assert.Throws<ArgumentException>(() => m.MarkStopped(StopReason.None, T0));
        Assert.Equal(MeasurementState.Starting, m.State);
    }

    [Fact]
    public void StampNumbersBlocksWithoutGapsAndCountsTheirSamples()
    {
        var m = NewMeasurement(rate: 2000);
        m.MarkRunning();
        var counts = new[] { 10, 1, 250, 7, 16_384 };
        var blocks = counts.Select(c => SampleBlock.Rent(2, c)).ToList();

        try
        {
            Assert.All(blocks, b => Assert.True(m.Stamp(b)));

            Assert.Equal([0L, 1, 2, 3, 4], blocks.Select(b => b.Sequence));
            Assert.Equal([0L, 10, 11, 261, 268], blocks.Select(b => b.FirstSampleIndex));
            Assert.All(blocks, b => Assert.Equal(m.Id, b.MeasurementId));
            Assert.All(blocks, b => Assert.Equal(2000, b.SampleRate));
            Assert.Equal(counts.Sum(), m.SampleCount);
            Assert.Equal(counts.Sum(), m.Snapshot().SampleCount);
        }
        finally
        {
            blocks.ForEach(b => b.Release());
        }
    }

    [Fact]
    public void StampTakesWhatTheDeviceDrainsAfterTheStopAndRefusesBlocksOnceSealed()
    {
        var m = NewMeasurement();
        m.MarkRunning();
        var before = SampleBlock.Rent(1, 100);
        var drained = SampleBlock.Rent(1, 50);
        var after = SampleBlock.Rent(1, 100);
        try
        {
            Assert.True(m.Stamp(before));
            m.MarkStopped(StopReason.User, T0);
            Assert.True(m.Stamp(drained));
            m.Seal();

            Assert.False(m.Stamp(after));

            Assert.Equal(150, m.SampleCount);
            Assert.Equal(Guid.Empty, after.MeasurementId);
        }
        finally
        {
            before.Release();
            drained.Release();
            after.Release();
        }
    }

    [Fact]
    public void UnstampTakesBackOnlyTheNewestBlock()
    {
        var m = NewMeasurement();
        m.MarkRunning();
        var a = SampleBlock.Rent(1, 10);
        var b = SampleBlock.Rent(1, 20);
        var c = SampleBlock.Rent(1, 30);
        try
        {
            m.Stamp(a);
            m.Stamp(b);

            Assert.False(m.Unstamp(a));
            Assert.True(m.Unstamp(b));
            Assert.False(m.Unstamp(b));
            Assert.Equal(10, m.SampleCount);

            // The next block takes the place of the one taken back: no gap.
            m.Stamp(c);
            Assert.Equal(1, c.Sequence);
            Assert.Equal(10, c.FirstSampleIndex);
        }
        finally
        {
            a.Release();
            b.Release();
            c.Release();
        }
    }

    [Fact]
    public async Task ConcurrentStampsStillNumberBlocksWithoutGapsAndInSampleOrder()
    {
        // A network device may publish from several connections; numbering must stay consistent.
        // (A race here is only caught with some probability; with the lock the test can never fail.)
        var m = NewMeasurement();
        m.MarkRunning();
        const int threads = 2;
        const int perThread = 200_000;
        using var together = new Barrier(threads);

        var stamped = await Task.WhenAll(Enumerable.Range(0, threads).Select(t => Task.Factory.StartNew(() =>
        {
            // One block per thread, re-stamped in a tight loop, so the threads really overlap.
            var block = SampleBlock.Rent(1, 1 + t);
            var result = new (long Sequence, long First, int Count)[perThread];
            together.SignalAndWait();
            for (var i = 0; i < perThread; i++)
            {
                m.Stamp(block);
                result[i] = (block.Sequence, block.FirstSampleIndex, block.Count);
            }
            block.Release();
            return result;
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)));

        var all = stamped.SelectMany(s => s).OrderBy(s => s.Sequence).ToList();
        Assert.Equal(Enumerable.Range(0, threads * perThread).Select(i => (long)i), all.Select(s => s.Sequence));
        long next = 0;
        foreach (var (_, first, count) in all)
        {
            Assert.Equal(next, first);
            next += count;
        }
        Assert.Equal(next, m.SampleCount);
    }

    private static Measurement NewMeasurement(double rate = 1000) => new(new MeasurementInfo
    {
        Id = Guid.NewGuid(),
        OwnerId = "alice-id",
        OwnerName = "alice@example.com",
        Name = "lifecycle",
        DeviceId = "sim1",
        Channels = [new ChannelInfo("ch1", "V"), new ChannelInfo("ch2", "V")],
        SampleRate = rate,
        State = MeasurementState.Starting,
        StartedAt = T0,
    });
}
