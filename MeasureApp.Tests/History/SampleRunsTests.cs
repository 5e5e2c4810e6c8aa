using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Storage;

namespace MeasureApp.Tests.History;

/// <summary>The stored time line: chunks that continue their run are not runs, a gap is, and times map both ways through it.</summary>
public sealed class SampleRunsTests
{
    private const double Rate = 12_345;
    private const long StartNs = 1_700_000_000_123_456_789;
    private const long GapNs = 2_500_000_003;

    // Chunks of 1000 samples; from index 3000 on every sample lies GapNs later than the run before predicts.
    private static SampleRuns WithGap() => SampleRuns.FromChunks(
        Enumerable.Range(0, 6).Select(k => ((long)k * 1000, TimeNs(k * 1000L), 1000)), Rate);

    private static long TimeNs(long index) => StartNs + SampleTime.OffsetNs(index, Rate) + (index >= 3000 ? GapNs : 0);

    [Fact]
    public void ChunksThatContinueTheirRunAreOneRunAndAGapStartsAnother()
    {
        var runs = WithGap();

        Assert.Equal([new SampleRun(0, StartNs, false), new SampleRun(3000, TimeNs(3000), true)], runs.Runs);
        Assert.Equal(6000, runs.EndIndex);
        Assert.Equal(StartNs, runs.OriginNs);
    }

    [Fact]
    public void EverySampleLiesAtItsStoredTime()
    {
        var runs = WithGap();

        foreach (var i in new long[] { 0, 1, 2999, 3000, 3001, 5999 })
        {
            Assert.Equal(TimeNs(i), runs.TimeOfNs(i));
            Assert.Equal((TimeNs(i) - StartNs) / 1e9, runs.SecondsOf(i));
        }
        Assert.Equal((TimeNs(6000) - StartNs) / 1e9, runs.EndSeconds);
    }

    [Fact]
    public void TimesMapBackToTheSamplesStoredAtThemAndARangeInsideTheGapHoldsNone()
    {
        var runs = WithGap();
        double Seconds(long i) => (TimeNs(i) - StartNs) / 1e9;

        Assert.Equal(3000, runs.FirstAtOrAfter(Seconds(3000)));
        Assert.Equal(3001, runs.EndAtOrBefore(Seconds(3000)));
        Assert.Equal(4567, runs.FirstAtOrAfter(Seconds(4567)));
        Assert.Equal(4568, runs.EndAtOrBefore(Seconds(4567)));
        // Inside the gap: nothing at or before belongs after it, nothing after belongs before it.
        var inGap = Seconds(2999) + 1.0;
        Assert.Equal(3000, runs.FirstAtOrAfter(inGap));
        Assert.Equal(3000, runs.EndAtOrBefore(inGap));
        Assert.Equal(0, runs.FirstAtOrAfter(-1));
        Assert.Equal(6000, runs.FirstAtOrAfter(1e6));
        Assert.Equal(6000, runs.EndAtOrBefore(1e6));
    }

    [Fact]
    public void ALineThroughTheSamplesBreaksOnlyAtTheGap()
    {
        var runs = WithGap();
        long[] indices = [0, 1000, 2999, 3000, 4000, 5999];
        float[] values = [0, 1, 2, 3, 4, 5];

        var line = runs.Line(indices, values).ToList();

        Assert.Equal(7, line.Count);
        var gap = Assert.Single(line, p => float.IsNaN(p.Value));
        Assert.Equal(3, line.IndexOf(gap));
        Assert.InRange(gap.Seconds, runs.SecondsOf(2999), runs.SecondsOf(3000));
        Assert.Equal(indices.Select(runs.SecondsOf), line.Where(p => !float.IsNaN(p.Value)).Select(p => p.Seconds));
        Assert.False(runs.GapBetween(0, 2999));
        Assert.True(runs.GapBetween(2999, 3000));
        Assert.False(runs.GapBetween(3000, 5999));
    }

    [Fact]
    public void AChunkOffItsRunByLessThanHalfAPeriodStartsARunButNoGap()
    {
        // A restart 10 ns late: its samples are placed at their own times, yet the line goes on.
        var runs = SampleRuns.FromChunks([(0, StartNs, 100), (100, StartNs + SampleTime.OffsetNs(100, Rate) + 10, 100)], Rate);

        Assert.Equal(2, runs.Runs.Count);
        Assert.False(runs.Runs[1].AfterGap);
        Assert.Equal(StartNs + SampleTime.OffsetNs(150, Rate) + 10, runs.TimeOfNs(150));
        Assert.False(runs.GapBetween(99, 100));
    }
}
