using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Measurements;
using static MeasureApp.Tests.Acquisition.EngineHarness;

namespace MeasureApp.Tests.Acquisition;

public sealed class MeasurementEngineTests
{
    [Theory]
    [InlineData("nope", 1, 1000.0, "Unknown device 'nope'.")]
    [InlineData(DeviceId, 9, 1000.0, "Channels must be between 1 and 8 (you asked for 9).")]
    [InlineData(DeviceId, 0, 1000.0, "Channels must be between 1 and 8 (you asked for 0).")]
    [InlineData(DeviceId, 1, 50.0, "Sample rate must be between 100 Hz and 100,000 Hz (you asked for 50 Hz).")]
    [InlineData(DeviceId, 1, 100_001.0, "Sample rate must be between 100 Hz and 100,000 Hz (you asked for 100,001 Hz).")]
    public async Task StartRefusesAnInvalidRequestAndStatesTheNumbers(string device, int channels, double rate, string message)
    {
        await using var h = await StartNewAsync();

        var result = await h.Engine.StartAsync(Alice, new UserLimits(), Request(channels: channels, rate: rate) with { DeviceId = device }, CancellationToken.None);

        Assert.False(result.Succeeded);
        Assert.Equal(message, result.Error);
        Assert.Empty(h.Engine.GetRunning(Alice));
    }

    [Fact]
    public async Task StartRefusesMoreThanTheUsersOwnChannelAndRateLimits()
    {
        await using var h = await StartNewAsync();
        var limits = new UserLimits { MaxChannels = 2, MaxSampleRate = 10_000 };

        var channels = await h.Engine.StartAsync(Alice, limits, Request(channels: 3), CancellationToken.None);
        var rate = await h.Engine.StartAsync(Alice, limits, Request(rate: 20_000), CancellationToken.None);

        Assert.Equal("Channels must be between 1 and 2 (you asked for 3).", channels.Error);
        Assert.Equal("Sample rate must be between 100 Hz and 10,000 Hz (you asked for 20,000 Hz).", rate.Error);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public async Task StartRefusesAnEmptyName(string name)
    {
        await using var h = await StartNewAsync();

        var result = await h.Engine.StartAsync(Alice, new UserLimits(), Request(name: name), CancellationToken.None);

        Assert.Equal("A measurement needs a name of 1 to 100 characters.", result.Error);
    }

    [Fact]
    public async Task StartRefusesANameLongerThanOneHundredCharacters()
    {
        await using var h = await StartNewAsync();

        var ok = await h.Engine.StartAsync(Alice, new UserLimits(), Request(name: new string('x', 100)), CancellationToken.None);
        var tooLong = await h.Engine.StartAsync(Alice, new UserLimits(), Request(name: new string('x', 101)), CancellationToken.None);

        Assert.True(ok.Succeeded, ok.Error);
        Assert.Equal("A measurement needs a name of 1 to 100 characters.", tooLong.Error);
    }

    [Fact]
    public async Task StartRefusesADurationOverTheUsersLimitOrNotPositive()
    {
        await using var h = await StartNewAsync();
        var limits = new UserLimits { MaxDuration = TimeSpan.FromHours(1) };

        var tooLong = await h.Engine.StartAsync(Alice, limits, Request(duration: TimeSpan.FromHours(2)), CancellationToken.None);
        var zero = await h.Engine.StartAsync(Alice, limits, Request(duration: TimeSpan.Zero), CancellationToken.None);

        Assert.Equal("Duration must be more than 0 s and at most 3,600 s (you asked for 7,200 s).", tooLong.Error);
        Assert.Equal("Duration must be more than 0 s and at most 3,600 s (you asked for 0 s).", zero.Error);
    }

    [Fact]
    public async Task RefusedRequestsDoNotUseUpMeasurementSlots()
    {
        await using var h = await StartNewAsync();
        for (var i = 0; i < 10; i++)
        {
            var refused = await h.Engine.StartAsync(Alice, new UserLimits(), Request(channels: 99), CancellationToken.None);
            Assert.False(refused.Succeeded);
        }

        for (var i = 0; i < 4; i++)
        {
            await h.StartMeasurementAsync(Alice, Request());
        }

        Assert.Equal(4, h.Engine.GetRunning(Alice).Count);
    }

    [Fact]
    public async Task FiftyParallelStartsOfOneUserNeverExceedTheLimitOfFour()
    {
        await using var h = await StartNewAsync();
        var limits = new UserLimits { MaxParallelMeasurements = 4 };

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(i =>
            Task.Run(() => h.Engine.StartAsync(Alice, limits, Request(name: $"run {i}"), CancellationToken.None))));

        Assert.Equal(4, results.Count(r => r.Succeeded));
        Assert.All(results.Where(r => !r.Succeeded), r => Assert.Equal("You are running 4 of 4 allowed measurements.", r.Error));
        Assert.Equal(4, h.Engine.GetRunning(Alice).Count);
        Assert.Empty(h.Engine.GetRunning(Bob));
    }

    [Fact]
    public async Task StartSaysHowManyOfHowManyAreRunning()
    {
        await using var h = await StartNewAsync();
        var limits = new UserLimits { MaxParallelMeasurements = 2 };
        await h.StartMeasurementAsync(Alice, Request(), limits);
        await h.StartMeasurementAsync(Alice, Request(), limits);

        var refused = await h.Engine.StartAsync(Alice, limits, Request(), CancellationToken.None);
        var otherUser = await h.Engine.StartAsync(Bob, limits, Request(), CancellationToken.None);

        Assert.Equal("You are running 2 of 2 allowed measurements.", refused.Error);
        Assert.True(otherUser.Succeeded, otherUser.Error);
    }

    [Fact]
    public async Task AnotherUsersMeasurementIsNotFound()
    {
        await using var h = await StartNewAsync();
        var m = await h.StartMeasurementAsync(Alice, Request());

        Assert.Null(h.Engine.Find(m.Id, Bob));
        Assert.Empty(h.Engine.GetRunning(Bob));
        Assert.False(await h.Engine.StopAsync(m.Id, Bob, CancellationToken.None));
        Assert.NotNull(h.Engine.Find(m.Id, Alice));
        Assert.Equal(MeasurementState.Running, h.Engine.Find(m.Id, Alice)!.State);
    }

    [Fact]
    public async Task UnknownIdsAreNotFound()
    {
        await using var h = await StartNewAsync();

        Assert.Null(h.Engine.Find(Guid.NewGuid(), AnAdmin));
        Assert.False(await h.Engine.StopAsync(Guid.NewGuid(), AnAdmin, CancellationToken.None));
    }

    [Fact]
    public async Task AnAdminMaySeeAndStopAnyMeasurementAndTheReasonSaysAdmin()
    {
        await using var h = await StartNewAsync();
        var m = await h.StartMeasurementAsync(Alice, Request());

        Assert.NotNull(h.Engine.Find(m.Id, AnAdmin));
        Assert.Contains(h.Engine.GetRunning(AnAdmin), r => r.Id == m.Id);
        Assert.True(await h.Engine.StopAsync(m.Id, AnAdmin, CancellationToken.None));

        var stored = h.Store.Measurement(m.Id)!;
        Assert.Equal(MeasurementState.Stopped, stored.State);
        Assert.Equal(StopReason.Admin, stored.StopReason);
        Assert.Null(h.Engine.Find(m.Id, Alice));
    }

    [Fact]
    public async Task ARequestedDurationStopsTheMeasurementWithReasonDuration()
    {
        await using var h = await StartNewAsync();
        var m = await h.StartMeasurementAsync(Alice, Request(duration: TimeSpan.FromSeconds(1)));
        var stopped = h.WhenStopped(Alice.UserId, m.Id);

        h.Time.Advance(TimeSpan.FromMilliseconds(500));
        await h.Driver.WaitForSamplesAsync(m.Id, 500);
        h.Time.Advance(TimeSpan.FromMilliseconds(500));
        var info = await stopped;

        Assert.Equal(StopReason.Duration, info.StopReason);
        Assert.Equal(m.StartedAt + TimeSpan.FromSeconds(1), info.StoppedAt);
        Assert.Equal(1000, info.SampleCount);
        var stored = h.Store.Measurement(m.Id)!;
        Assert.Equal(MeasurementState.Stopped, stored.State);
        Assert.Equal(StopReason.Duration, stored.StopReason);
        Assert.Equal(info.SampleCount, stored.SampleCount);
        Assert.Equal(info.SampleCount, h.Store.Chunks(m.Id).Sum(c => (long)c.SampleCount));
        Assert.Empty(h.Engine.GetRunning(Alice));
    }

    [Fact]
    public async Task ALoweredDurationLimitAppliesToARunningMeasurementAtOnce()
    {
        await using var h = await StartNewAsync();
        var m = await h.StartMeasurementAsync(Alice, Request(), new UserLimits { MaxDuration = TimeSpan.FromHours(8) });
        var other = await h.StartMeasurementAsync(Bob, Request(), new UserLimits { MaxDuration = TimeSpan.FromHours(8) });
        var stopped = h.WhenStopped(Alice.UserId, m.Id);
        h.Time.Advance(TimeSpan.FromSeconds(3));

        // The admin lowers Alice's limit below the time already run: her measurement stops at the next check.
        h.Engine.ApplyLimits(Alice.UserId, new UserLimits { MaxDuration = TimeSpan.FromSeconds(2) });
        h.Time.Advance(TimeSpan.FromMilliseconds(500));
        var info = await stopped;

        Assert.Equal(StopReason.Limit, info.StopReason);
        Assert.NotNull(h.Engine.Find(other.Id, Bob));
    }

    [Fact]
    public async Task TheUsersDurationLimitStopsAMeasurementWithoutDurationWithReasonLimit()
    {
        await using var h = await StartNewAsync();
        var limits = new UserLimits { MaxDuration = TimeSpan.FromSeconds(2) };
        var m = await h.StartMeasurementAsync(Alice, Request(), limits);
        var stopped = h.WhenStopped(Alice.UserId, m.Id);

        h.Time.Advance(TimeSpan.FromSeconds(2));
        var info = await stopped;

        Assert.Equal(StopReason.Limit, info.StopReason);
        Assert.Equal(MeasurementState.Stopped, h.Store.Measurement(m.Id)!.State);
    }

    [Fact]
    public async Task StoppingReleasesTheSlotForTheNextStart()
    {
        await using var h = await StartNewAsync();
        var limits = new UserLimits { MaxParallelMeasurements = 4 };
        var running = new List<MeasurementInfo>();
        for (var i = 0; i < 4; i++)
        {
            running.Add(await h.StartMeasurementAsync(Alice, Request(), limits));
        }
        Assert.False((await h.Engine.StartAsync(Alice, limits, Request(), CancellationToken.None)).Succeeded);

        Assert.True(await h.Engine.StopAsync(running[0].Id, Alice, CancellationToken.None));
        var next = await h.Engine.StartAsync(Alice, limits, Request(), CancellationToken.None);

        Assert.True(next.Succeeded, next.Error);
        Assert.Equal(4, h.Engine.GetRunning(Alice).Count);
    }

    [Fact]
    public async Task ASecondStopFindsNothingAndKeepsTheFirstReason()
    {
        await using var h = await StartNewAsync();
        var m = await h.StartMeasurementAsync(Alice, Request());

        Assert.True(await h.Engine.StopAsync(m.Id, Alice, CancellationToken.None));
        Assert.False(await h.Engine.StopAsync(m.Id, AnAdmin, CancellationToken.None));

        Assert.Equal(StopReason.User, h.Store.Measurement(m.Id)!.StopReason);
    }

    [Fact]
    public async Task StoppingFlushesEverySampleToTheStoreOnceInGaplessChunks()
    {
        await using var h = await StartNewAsync();
        var m = await h.StartMeasurementAsync(Alice, Request(channels: 2, rate: 10_000));

        for (var i = 0; i < 20; i++)
        {
            h.Time.Advance(TimeSpan.FromMilliseconds(50));
        }
        await h.Driver.WaitForSamplesAsync(m.Id, 10_000);
        Assert.True(await h.Engine.StopAsync(m.Id, Alice, CancellationToken.None));

        var stored = h.Store.Measurement(m.Id)!;
        Assert.Equal(MeasurementState.Stopped, stored.State);
        Assert.Equal(StopReason.User, stored.StopReason);
        Assert.Equal(10_000, stored.SampleCount);
        var chunks = h.Store.Chunks(m.Id);
        Assert.Equal(Enumerable.Range(0, chunks.Count).Select(i => (long)i), chunks.Select(c => c.Sequence));
        Assert.Equal(stored.SampleCount, chunks.Sum(c => (long)c.SampleCount));
        Assert.Equal(0, h.Store.DuplicateChunks);
        long next = 0;
        foreach (var chunk in chunks)
        {
            Assert.Equal(next, chunk.FirstSampleIndex);
            Assert.Equal(2, chunk.ChannelCount);
            next += chunk.SampleCount;
        }

        // Lossless: what was stored is exactly what the device generated.
        var device = h.Engine.Devices.Single(d => d.Id == DeviceId);
        for (var c = 0; c < 2; c++)
        {
            var expected = new float[10_000];
            SignalGenerator.Fill(expected, 0, 10_000, new SimulatedChannelOptions(), device.Seed, c, device.SpikeProbability);
            Assert.Equal(expected, chunks.SelectMany(chunk => chunk.Channel(c).ToArray()).ToArray());
        }
    }

    [Fact]
    public async Task ShuttingDownStopsAndFlushesEveryRunningMeasurement()
    {
        var h = await StartNewAsync();
        var a = await h.StartMeasurementAsync(Alice, Request());
        var b = await h.StartMeasurementAsync(Bob, Request(rate: 2000));
        h.Time.Advance(TimeSpan.FromSeconds(1));
        await h.Driver.WaitForSamplesAsync(a.Id, 1000);
        await h.Driver.WaitForSamplesAsync(b.Id, 2000);

        await h.DisposeAsync();

        foreach (var (m, samples) in new[] { (a, 1000L), (b, 2000L) })
        {
            var stored = h.Store.Measurement(m.Id)!;
            Assert.Equal(StopReason.Shutdown, stored.StopReason);
            Assert.Equal(samples, stored.SampleCount);
            Assert.Equal(samples, h.Store.Chunks(m.Id).Sum(c => (long)c.SampleCount));
        }
    }

    [Fact]
    public async Task WatchersHearOfStartAndStopOfTheirOwnMeasurementsOnly()
    {
        await using var h = await StartNewAsync();
        var alice = new List<MeasurementInfo>();
        var bob = new List<MeasurementInfo>();
        using var w1 = h.Engine.Watch(Alice.UserId, alice.Add);
        using var w2 = h.Engine.Watch(Bob.UserId, bob.Add);

        var m = await h.StartMeasurementAsync(Alice, Request());
        await h.Engine.StopAsync(m.Id, Alice, CancellationToken.None);

        Assert.Equal([MeasurementState.Running, MeasurementState.Stopped], alice.Select(i => i.State));
        Assert.All(alice, i => Assert.Equal(m.Id, i.Id));
        Assert.Empty(bob);
    }

    [Fact]
    public async Task TheStoreRecordsARunningMeasurementAsRunning()
    {
        await using var h = await StartNewAsync();

        var m = await h.StartMeasurementAsync(Alice, Request());

        Assert.Equal(MeasurementState.Running, m.State);
        Assert.Equal(MeasurementState.Running, h.Store.Measurement(m.Id)!.State);
    }

    [Fact]
    public async Task AStartCancelledWhileRecordingGivesItsSlotBack()
    {
        await using var h = await StartNewAsync();
        var limits = new UserLimits { MaxParallelMeasurements = 1 };
        using var cancel = new CancellationTokenSource();
        h.Store.BeforeCreate = async (_, ct) =>
        {
            await cancel.CancelAsync();
            ct.ThrowIfCancellationRequested();
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => h.Engine.StartAsync(Alice, limits, Request(), cancel.Token));
        h.Store.BeforeCreate = null;
        var next = await h.Engine.StartAsync(Alice, limits, Request(), CancellationToken.None);

        Assert.True(next.Succeeded, next.Error);
    }

    [Fact]
    public async Task AnUnreachableDatabaseRefusesTheStartAndGivesTheSlotBack()
    {
        await using var h = await StartNewAsync();
        var limits = new UserLimits { MaxParallelMeasurements = 1 };
        h.Store.BeforeCreate = (_, _) => throw new IOException("connection refused");

        var refused = await h.Engine.StartAsync(Alice, limits, Request(), CancellationToken.None);
        h.Store.BeforeCreate = null;
        var next = await h.Engine.StartAsync(Alice, limits, Request(), CancellationToken.None);

        Assert.Equal("The database is unavailable; the measurement was not started.", refused.Error);
        Assert.True(next.Succeeded, next.Error);
    }

    [Fact]
    public async Task ADeviceThatCannotStartRefusesTheStartAndKeepsNoSlot()
    {
        await using var h = await StartNewAsync([BrokenDriver.Device], [new BrokenDriver()]);
        var limits = new UserLimits { MaxParallelMeasurements = 1 };

        var refused = await h.Engine.StartAsync(Alice, limits, Request() with { DeviceId = BrokenDriver.DeviceId }, CancellationToken.None);
        var next = await h.Engine.StartAsync(Alice, limits, Request(), CancellationToken.None);

        Assert.False(refused.Succeeded);
        Assert.Contains(BrokenDriver.DeviceId, refused.Error, StringComparison.Ordinal);
        Assert.Contains("The device is not connected.", refused.Error, StringComparison.Ordinal);
        Assert.True(next.Succeeded, next.Error);
        Assert.Single(h.Engine.GetRunning(Alice));
        var recorded = h.Store.Measurement(Assert.Single(h.Store.Measurements, x => x.DeviceId == BrokenDriver.DeviceId).Id)!;
        Assert.Equal(MeasurementState.Stopped, recorded.State);
        Assert.Equal(StopReason.DeviceError, recorded.StopReason);
    }

    [Fact]
    public async Task AFullStoreQueueStopsTheMeasurementAndCountsOnlyWhatWasQueued()
    {
        // Room for 10 000 samples of one channel; the writer is not draining yet.
        await using var h = new EngineHarness(storeQueueBytes: 10_000 * sizeof(float));
        await h.Engine.StartAsync(CancellationToken.None);
        var m = await h.StartMeasurementAsync(Alice, Request(rate: 10_000));
        var stopped = h.WhenStopped(Alice.UserId, m.Id);
        for (var step = 1; step <= 10; step++)
        {
            h.Time.Advance(TimeSpan.FromMilliseconds(100));
            await h.Driver.WaitForSamplesAsync(m.Id, step * 1000);
        }

        h.Time.Advance(TimeSpan.FromMilliseconds(100));
        await h.Driver.WaitForRefusalAsync(m.Id);
        await h.Writer.StartAsync(CancellationToken.None);
        var info = await stopped;

        Assert.Equal(StopReason.Limit, info.StopReason);
        Assert.Contains("Storage could not keep up", info.StopDetail, StringComparison.Ordinal);
        Assert.Equal(10_000, info.SampleCount);
        Assert.Equal(10_000, h.Store.Measurement(m.Id)!.SampleCount);
        Assert.Equal(10_000, h.Store.Chunks(m.Id).Sum(c => (long)c.SampleCount));
    }

    [Fact]
    public async Task ADeviceThatFailsWhileStartingIsStoppedDisposedAndKeepsNoSlot()
    {
        var driver = new FailsWhileStartingDriver();
        await using var h = await StartNewAsync([FailsWhileStartingDriver.Device], [driver]);
        var limits = new UserLimits { MaxParallelMeasurements = 1 };

        var refused = await h.Engine.StartAsync(Alice, limits, Request() with { DeviceId = FailsWhileStartingDriver.DeviceId }, CancellationToken.None);
        await driver.Disposed.WaitAsync(TestTimeouts.HangGuard);
        var next = await h.Engine.StartAsync(Alice, limits, Request(), CancellationToken.None);

        Assert.False(refused.Succeeded);
        Assert.Contains("Lost the connection during start.", refused.Error, StringComparison.Ordinal);
        Assert.True(next.Succeeded, next.Error);
        var recorded = Assert.Single(h.Store.Measurements, x => x.DeviceId == FailsWhileStartingDriver.DeviceId);
        Assert.Equal(StopReason.DeviceError, recorded.StopReason);
    }
}
