using MeasureApp.Monitoring;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Monitoring;

public sealed class LiveLatencyStatsTests
{
    [Fact]
    public void PercentilesOfAKnownDistributionAreItsNearestRanks()
    {
        var time = new FakeTimeProvider();
        var stats = new LiveLatencyStats(time);
        // 1..1000 ms, shuffled so the order of recording does not matter.
        foreach (var ms in Enumerable.Range(1, 1000).OrderBy(i => (i * 7919) % 1000))
        {
            stats.Record(ms);
        }

        var p = stats.Percentiles();

        Assert.NotNull(p);
        Assert.Equal(1000, p.Count);
        Assert.Equal(500, p.P50Ms);
        Assert.Equal(950, p.P95Ms);
        Assert.Equal(990, p.P99Ms);
    }

    [Fact]
    public void ASkewedDistributionShowsItsTailOnlyInTheHighPercentiles()
    {
        var stats = new LiveLatencyStats(new FakeTimeProvider());
        // 97 fast renders and 3 slow ones: the median stays fast, p99 sees the tail.
        for (var i = 0; i < 97; i++)
        {
            stats.Record(10);
        }
        stats.Record(400);
        stats.Record(500);
        stats.Record(600);

        var p = stats.Percentiles()!;

        Assert.Equal(10, p.P50Ms);
        Assert.Equal(10, p.P95Ms);
        Assert.Equal(500, p.P99Ms);
    }

    [Fact]
    public void RendersOlderThanTheWindowDropOutAndAnEmptyWindowHasNoPercentiles()
    {
        var time = new FakeTimeProvider();
        var stats = new LiveLatencyStats(time);
        Assert.Null(stats.Percentiles());

        stats.Record(900);
        stats.Record(900);
        time.Advance(LiveLatencyStats.Window / 2);
        stats.Record(20);
        Assert.Equal(3, stats.Percentiles()!.Count);

        time.Advance((LiveLatencyStats.Window / 2) + TimeSpan.FromMilliseconds(1));
        var p = stats.Percentiles()!;
        Assert.Equal(1, p.Count);
        Assert.Equal(20, p.P99Ms);

        time.Advance(LiveLatencyStats.Window);
        Assert.Null(stats.Percentiles());
    }

    [Fact]
    public void MemoryIsBoundedByKeepingTheNewestRenders()
    {
        var stats = new LiveLatencyStats(new FakeTimeProvider());
        for (var i = 0; i < LiveLatencyStats.Capacity; i++)
        {
            stats.Record(1000);
        }
        // A full ring more of fast renders pushes every slow one out.
        for (var i = 0; i < LiveLatencyStats.Capacity; i++)
        {
            stats.Record(5);
        }

        var p = stats.Percentiles()!;

        Assert.Equal(LiveLatencyStats.Capacity, p.Count);
        Assert.Equal(5, p.P99Ms);
    }

    [Fact]
    public void NaNIsIgnoredAndANegativeLatencyFromClockSkewCountsAsZero()
    {
        var stats = new LiveLatencyStats(new FakeTimeProvider());
        stats.Record(double.NaN);
        Assert.Null(stats.Percentiles());

        stats.Record(-3);

        var p = stats.Percentiles()!;
        Assert.Equal(1, p.Count);
        Assert.Equal(0, p.P50Ms);
    }

    [Fact]
    public async Task ConcurrentRecordersLoseNoRender()
    {
        var stats = new LiveLatencyStats(new FakeTimeProvider());
        await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 1000; i++)
            {
                stats.Record(t);
            }
        })));

        var p = stats.Percentiles()!;

        Assert.Equal(8000, p.Count);
        Assert.Equal(3, p.P50Ms);
        Assert.Equal(7, p.P99Ms);
    }
}
