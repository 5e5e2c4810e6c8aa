using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;

namespace MeasureApp.Tests.Acquisition.Timing;

/// <summary>Sample times are index/rate rounded to the nanosecond, at any rate, with nothing accumulated.</summary>
public sealed class SampleTimeTests
{
    [Theory]
    [InlineData(12_345.0)]
    [InlineData(100.0)]
    [InlineData(99_991.0)]
    [InlineData(333.3)]
    public void TheOffsetOfEverySampleIsIndexOverRateRoundedToTheNearestNanosecond(double rate)
    {
        foreach (var i in new long[] { 0, 1, 2, 3, 12_344, 12_345, 12_346, 1_000_003, 360_000_001, 2_880_000_000 })
        {
            var exact = (decimal)i * 1_000_000_000m / (decimal)rate;
            Assert.Equal((long)Math.Round(exact, MidpointRounding.AwayFromZero), SampleTime.OffsetNs(i, rate));
        }
    }

    [Fact]
    public void AtTwelveThousandThreeHundredFortyFiveHertzSampleTwelveThousandThreeHundredFortyFiveIsExactlyOneSecond() =>
        Assert.Equal(1_000_000_000, SampleTime.OffsetNs(12_345, 12_345));

    [Fact]
    public async Task A12345HzMeasurementIsStoredAndExportedAtIndexOverRateAcrossEveryBlockAndChunk()
    {
        await using var h = await EngineHarness.StartNewAsync();
        var m = await h.StartMeasurementAsync(EngineHarness.Alice, EngineHarness.Request(rate: 12_345));
        for (var k = 0; k < 21; k++)
        {
            h.Time.Advance(TimeSpan.FromMilliseconds(100));
        }
        await h.Driver.WaitForSamplesAsync(m.Id, 24_691);
        Assert.True(await h.Engine.StopAsync(m.Id, EngineHarness.Alice, CancellationToken.None));

        var info = h.Store.Measurement(m.Id)!;
        var exported = await ShmTimestampTests.ExportCsvAsync(h.Store, info);
        var start = exported[0].Ns;
        Assert.True(h.Store.Chunks(m.Id).Count > 1, "the run spans several stored chunks");
        for (var i = 0; i < exported.Count; i++)
        {
            Assert.Equal(start + SampleTime.OffsetNs(i, 12_345), exported[i].Ns);
        }
        Assert.Equal(start + 1_000_000_000, exported[12_345].Ns);
        Assert.Equal(start + 2_000_000_000, exported[24_690].Ns);
    }

    [Fact]
    public async Task ATwoSecondMeasurementAtOneHundredHertzStoresExactlyTwoHundredSamples()
    {
        await using var h = await EngineHarness.StartNewAsync();
        var m = await h.StartMeasurementAsync(EngineHarness.Alice, EngineHarness.Request(rate: 100, duration: TimeSpan.FromSeconds(2)));
        var stopped = h.WhenStopped(EngineHarness.Alice.UserId, m.Id);

        // The device runs late: its ticks arrive in uneven steps, the last one well past 2 s.
        foreach (var step in new[] { 700, 900, 1300 })
        {
            h.Time.Advance(TimeSpan.FromMilliseconds(step));
        }
        var info = await stopped;

        Assert.Equal(StopReason.Duration, info.StopReason);
        Assert.Equal(200, info.SampleCount);
        Assert.Equal(200, h.Store.Measurement(m.Id)!.SampleCount);
        Assert.Equal(200, h.Store.Chunks(m.Id).Sum(c => (long)c.SampleCount));
    }

    [Fact]
    public void ABlockOffTheRunsTimeGridStartsANewRunAndAStoredChunkAtItsOwnTime()
    {
        var m = new Measurement(new MeasurementInfo
        {
            Id = Guid.NewGuid(), OwnerId = "u", OwnerName = "u", Name = "m", DeviceId = "d", Channels = [new ChannelInfo("ch1", "V")],
            SampleRate = 1000, State = MeasurementState.Running, StartedAt = DateTimeOffset.UnixEpoch,
        });
        var a = SampleBlock.Rent(1, 10);
        var b = SampleBlock.Rent(1, 10);
        var late = SampleBlock.Rent(1, 10);
        try
        {
            a.T0Ns = 1_000_000_000;
            b.T0Ns = 1_010_000_100; // 100 ns of jitter: the same run, snapped to the grid
            late.T0Ns = 1_500_000_000; // a late network frame: 480 ms after the prediction
            Assert.True(m.Stamp(a));
            Assert.True(m.Stamp(b));
            Assert.True(m.Stamp(late));

            Assert.True(a.StartsRun);
            Assert.False(b.StartsRun);
            Assert.Equal(1_010_000_000, b.T0Ns);
            Assert.True(late.StartsRun);
            Assert.Equal(1_500_000_000, late.TimeOfSampleNs(0));
            Assert.Equal(1_509_000_000, late.TimeOfSampleNs(9));
        }
        finally
        {
            a.Release();
            b.Release();
            late.Release();
        }
    }
}
