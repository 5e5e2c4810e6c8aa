using MeasureApp.Acquisition.Live;
using static MeasureApp.Tests.Acquisition.EngineHarness;

namespace MeasureApp.Tests.Acquisition.Accounting;

public sealed class EngineAccountingTests
{
    [Fact]
    public async Task SamplesAndPipelineTimeAreChargedToTheMeasurementOwnerNotToAWatchingAdmin()
    {
        await using var e = await AccountedEngine.StartNewAsync();
        var m = await e.StartMeasurementAsync(Alice, Request(channels: 2, rate: 1000));
        using var watching = e.Hub.Subscribe(m.Id, AnAdmin, new LiveView(100, TimeSpan.FromSeconds(1)));
        Assert.NotNull(watching);

        e.Time.Advance(TimeSpan.FromSeconds(1));
        await e.Driver.WaitForSamplesAsync(m.Id, 1000);

        var snapshot = e.Accountant.Snapshot();
        var alice = AccountedEngine.UsageOf(snapshot, Alice);
        var admin = AccountedEngine.UsageOf(snapshot, AnAdmin);
        Assert.Equal(1000, alice.Samples);
        Assert.Equal(2000, alice.Values);
        Assert.True(alice.PipelineTime > TimeSpan.Zero, "publishing 200 blocks takes measurable time");
        Assert.Equal(0, admin.Samples);
        Assert.Equal(TimeSpan.Zero, admin.PipelineTime);
        Assert.Equal(1, admin.OpenSubscriptions);
        Assert.Equal(0, alice.OpenSubscriptions);
        Assert.DoesNotContain(snapshot, u => u.UserId == Bob.UserId);
    }

    [Fact]
    public async Task TheSampleRateIsTheSamplesOfTheIntervalOverElapsedFakeTime()
    {
        await using var e = await AccountedEngine.StartNewAsync();
        var m = await e.StartMeasurementAsync(Alice, Request(channels: 3, rate: 2000));

        e.Time.Advance(TimeSpan.FromSeconds(2));
        await e.Driver.WaitForSamplesAsync(m.Id, 4000);
        var first = e.UsageOf(Alice);
        e.Time.Advance(TimeSpan.FromSeconds(1));
        await e.Driver.WaitForSamplesAsync(m.Id, 6000);
        var second = e.UsageOf(Alice);

        Assert.Equal(2000, first.SamplesPerSecond);
        Assert.Equal(6000, first.ValuesPerSecond);
        Assert.Equal(6000, second.Samples);
        Assert.Equal(2000, second.SamplesPerSecond);
        Assert.True(second.PipelinePercent > 0);
    }

    [Fact]
    public async Task TheRunningMeasurementCountFollowsStartAndStopPerUser()
    {
        var e = await AccountedEngine.StartNewAsync();
        var a1 = await e.StartMeasurementAsync(Alice, Request());
        await e.StartMeasurementAsync(Alice, Request());
        await e.StartMeasurementAsync(Bob, Request());

        var afterStart = e.Accountant.Snapshot();
        Assert.True(await e.Engine.StopAsync(a1.Id, Alice, CancellationToken.None));
        var afterStop = e.Accountant.Snapshot();
        await e.DisposeAsync();
        var afterShutdown = e.Accountant.Snapshot();

        Assert.Equal(2, AccountedEngine.UsageOf(afterStart, Alice).RunningMeasurements);
        Assert.Equal(1, AccountedEngine.UsageOf(afterStart, Bob).RunningMeasurements);
        Assert.Equal(1, AccountedEngine.UsageOf(afterStop, Alice).RunningMeasurements);
        Assert.Equal(2, AccountedEngine.UsageOf(afterStop, Alice).MeasurementsStarted);
        Assert.Equal(0, AccountedEngine.UsageOf(afterShutdown, Alice).RunningMeasurements);
        Assert.Equal(0, AccountedEngine.UsageOf(afterShutdown, Bob).RunningMeasurements);
        Assert.Equal(1, AccountedEngine.UsageOf(afterShutdown, Bob).MeasurementsStarted);
    }

    [Fact]
    public async Task ARefusedStartIsNotCountedAsARunningMeasurement()
    {
        await using var e = await AccountedEngine.StartNewAsync();

        var refused = await e.Engine.StartAsync(Alice, new(), Request(channels: 99), CancellationToken.None);

        Assert.False(refused.Succeeded);
        Assert.Equal(0, e.UsageOf(Alice).RunningMeasurements);
        Assert.Equal(0, e.UsageOf(Alice).MeasurementsStarted);
    }
}
