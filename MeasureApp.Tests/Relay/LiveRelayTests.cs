using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Identity;
using MeasureApp.Live;
using MeasureApp.Relay;
using MeasureApp.Tests.Acquisition;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;
using static MeasureApp.Tests.Acquisition.EngineHarness;

namespace MeasureApp.Tests.Relay;

public sealed class LiveRelayTests
{
    private static readonly LiveView View = new(200, TimeSpan.FromSeconds(1));

    [Fact]
    public async Task FramesAcquiredOnAReachAWatcherOnBEqualToTheLocalDecimation()
    {
        await using var two = await TwoInstances.StartAsync();
        var m = await two.StartOnAAsync(Alice, Request(channels: 2));
        using var local = two.A.Hub.Subscribe(m.Id, Alice, View)!;

        using var remote = await two.ClientB.WatchAsync(Alice, m.Id, View, CancellationToken.None);
        Assert.NotNull(remote);
        await two.WhenWatchersOnAAsync(1);
        // Both subscriptions exist before the first sample: they must see the same blocks.
        two.A.Time.Advance(TimeSpan.FromSeconds(2));
        await two.A.Driver.WaitForSamplesAsync(m.Id, 2000);
        var expected = local.SamplesSeen;
        var remoteFrames = new List<LiveFrame>();
        await Eventually.TrueAsync(() =>
        {
            while (remote.Frames.TryRead(out var f))
            {
                remoteFrames.Add(f);
            }
            return remote.SamplesSeen == expected && remoteFrames.Sum(f => f.SampleCount) == expected;
        }, "B received every frame A decimated");

        var localFrames = new List<LiveFrame>();
        while (local.Frames.TryRead(out var f))
        {
            localFrames.Add(f);
        }
        var (lx, ly) = Flatten(localFrames, 2);
        var (rx, ry) = Flatten(remoteFrames, 2);
        for (var c = 0; c < 2; c++)
        {
            Assert.True(lx[c].Count > 100, $"channel {c} has points ({lx[c].Count})");
            Assert.Equal(lx[c], rx[c]);
            Assert.Equal(ly[c], ry[c]);
        }
        Assert.Equal(0, remote.DroppedFrames);
        Assert.Equal(remoteFrames[^1].NewestSampleNs, localFrames[^1].NewestSampleNs);
        Assert.Equal(m.Channels, remote.Info.Channels);
    }

    [Fact]
    public async Task ATabOnBListsAndDrawsAMeasurementOfAWithEverySpike()
    {
        await using var two = await TwoInstances.StartAsync();
        var m = await two.StartOnAAsync(Alice, Request() with { DeviceId = TwoInstances.SpikyDevice.Id });
        await using var tabOnB = new UserSession(two.B.Engine, two.B.Hub, null!, new CurrentUser(new LoggedIn(Alice)), TimeProvider.System,
            NullLogger<UserSession>.Instance, relay: two.ClientB);
        Assert.Contains(await tabOnB.GetRunningAsync(), r => r.Id == m.Id);
        using var local = two.A.Hub.Subscribe(m.Id, Alice, new LiveView(200, tabOnB.Window))!;

        var gate = new Lock();
        var maxDrawn = float.MinValue;
        var eventsDrawn = new List<SampleEvent>();
        ChartStatus? status = null;
        using var chart = await tabOnB.AttachAsync(m.Id, 200, frame =>
        {
            lock (gate)
            {
                maxDrawn = Math.Max(maxDrawn, frame.Y[0].DefaultIfEmpty(float.MinValue).Max());
                eventsDrawn.AddRange(frame.Events);
            }
            return Task.CompletedTask;
        }, s => Volatile.Write(ref status, s));
        Assert.NotNull(chart);
        await two.WhenWatchersOnAAsync(1);
        two.A.Time.Advance(TimeSpan.FromSeconds(2));
        await two.A.Driver.WaitForSamplesAsync(m.Id, 2000);

        var localFrames = new List<LiveFrame>();
        await Eventually.TrueAsync(() =>
        {
            while (local.Frames.TryRead(out var f))
            {
                localFrames.Add(f);
            }
            return localFrames.Sum(f => f.SampleCount) == 2000;
        }, "A decimated every sample");
        var spikes = localFrames.SelectMany(f => f.Events).ToList();
        var max = localFrames.SelectMany(f => f.Y[0]).Max();
        Assert.True(spikes.Count > 3, $"the device spiked ({spikes.Count})");
        await Eventually.TrueAsync(() =>
        {
            lock (gate)
            {
                return eventsDrawn.Count == spikes.Count && maxDrawn == max;
            }
        }, "every spike was drawn on B");
        lock (gate)
        {
            Assert.Equal(spikes, eventsDrawn);
        }
        await Eventually.TrueAsync(() => Volatile.Read(ref status) is { SamplesPerSecond: > 0 }, "B's chart status counts A's samples");
    }

    [Fact]
    public async Task NothingIsRelayedWhileNobodyWatchesAndTheRelayEndsWhenTheWatcherLeaves()
    {
        await using var two = await TwoInstances.StartAsync();
        var m = await two.StartOnAAsync(Alice);
        two.A.Time.Advance(TimeSpan.FromMilliseconds(200));
        await two.A.Driver.WaitForSamplesAsync(m.Id, 200);
        Assert.Equal(0, two.HostA.ActiveWatches);
        Assert.Equal(0, two.A.Hub.SubscriberCount(m.Id));

        var remote = await two.ClientB.WatchAsync(Alice, m.Id, View, CancellationToken.None);
        Assert.NotNull(remote);
        await two.WhenWatchersOnAAsync(1);
        Assert.Equal(1, two.A.Hub.SubscriberCount(m.Id));
        Assert.Equal(0, two.HostB.ActiveWatches);

        remote.Dispose();
        await two.WhenWatchersOnAAsync(0);
        Assert.Equal(0, two.A.Hub.SubscriberCount(m.Id));
    }

    [Fact]
    public async Task AWatcherThatStopsRenewingItsLeaseIsDroppedOnA()
    {
        var relayTime = new FakeTimeProvider();
        await using var two = await TwoInstances.StartAsync(relayTime);
        var m = await two.StartOnAAsync(Alice);
        // A watcher whose instance vanished: one request, never renewed, never withdrawn.
        var request = new WatchRequest(true, m.Id, Guid.NewGuid(), Alice.UserId, View);
        await two.RedisB.GetSubscriber().PublishAsync(RedisChannel.Literal(two.Options.Prefix + "watch"), RelayCodec.Encode(request));
        await two.WhenWatchersOnAAsync(1);
        Assert.Equal(1, two.A.Hub.SubscriberCount(m.Id));

        relayTime.Advance(two.Options.Lease + two.Options.RenewInterval);
        await Eventually.TrueAsync(() => two.HostA.ActiveWatches == 0, "the expired lease ends the relay",
            eachRound: () => relayTime.Advance(TimeSpan.FromMilliseconds(100)));
        Assert.Equal(0, two.A.Hub.SubscriberCount(m.Id));
    }

    [Fact]
    public async Task AnotherUsersMeasurementIsNotFoundOnBAndNothingIsAskedOfA()
    {
        await using var two = await TwoInstances.StartAsync();
        var m = await two.StartOnAAsync(Alice);

        Assert.Null(await two.ClientB.WatchAsync(Bob, m.Id, View, CancellationToken.None));
        Assert.Null(await two.ClientB.WatchAsync(Alice, Guid.NewGuid(), View, CancellationToken.None));
        Assert.DoesNotContain(await two.ClientB.ListRunningAsync(Bob, CancellationToken.None), r => r.Id == m.Id);
        Assert.Equal(0, two.HostA.ActiveWatches);

        using var admin = await two.ClientB.WatchAsync(AnAdmin, m.Id, View, CancellationToken.None);
        Assert.NotNull(admin);
        await two.WhenWatchersOnAAsync(1);
    }

    [Fact]
    public async Task StoppingTheMeasurementOnACompletesTheFeedOnBAndDropsItFromTheList()
    {
        await using var two = await TwoInstances.StartAsync();
        var changes = new List<MeasurementInfo>();
        using var watch = two.ClientB.WatchRunning(Alice, info =>
        {
            lock (changes)
            {
                changes.Add(info);
            }
        });
        var m = await two.StartOnAAsync(Alice);
        await Eventually.TrueAsync(() => { lock (changes) { return changes.Any(c => c.Id == m.Id && c.State == MeasurementState.Running); } },
            "B hears that the measurement runs on A");
        using var remote = await two.ClientB.WatchAsync(Alice, m.Id, View, CancellationToken.None);
        Assert.NotNull(remote);
        await two.WhenWatchersOnAAsync(1);

        Assert.True(await two.A.Engine.StopAsync(m.Id, Alice, CancellationToken.None));
        await two.Db.SaveAsync(m with { State = MeasurementState.Stopped });

        using var timeout = new CancellationTokenSource(TestTimeouts.HangGuard);
        await foreach (var _ in remote.Frames.ReadAllAsync(timeout.Token))
        {
            // Whatever was still on its way; the feed must then complete.
        }
        await two.WhenWatchersOnAAsync(0);
        await Eventually.TrueAsync(() => { lock (changes) { return changes.Any(c => c.Id == m.Id && c.State == MeasurementState.Stopped); } },
            "B hears that the measurement stopped");
        Assert.DoesNotContain(await two.ClientB.ListRunningAsync(Alice, CancellationToken.None), r => r.Id == m.Id);
    }

    [Fact]
    public async Task ARunningRowThatNoInstanceAnnouncesIsNotListedOrWatchable()
    {
        await using var two = await TwoInstances.StartAsync();
        // Left behind by an instance that crashed: Running in the database, acquired nowhere.
        var orphan = KnownSignal.Info(Guid.NewGuid(), 1, ownerId: Alice.UserId);
        await two.Db.SaveAsync(orphan);
        await two.StartOnAAsync(Alice);

        Assert.DoesNotContain(await two.ClientB.ListRunningAsync(Alice, CancellationToken.None), r => r.Id == orphan.Id);
        Assert.Null(await two.ClientB.WatchAsync(Alice, orphan.Id, View, CancellationToken.None));
    }

    private static (List<double>[] X, List<float>[] Y) Flatten(List<LiveFrame> frames, int channels)
    {
        var x = Enumerable.Range(0, channels).Select(_ => new List<double>()).ToArray();
        var y = Enumerable.Range(0, channels).Select(_ => new List<float>()).ToArray();
        foreach (var f in frames)
        {
            for (var c = 0; c < channels; c++)
            {
                x[c].AddRange(f.X[c]);
                y[c].AddRange(f.Y[c]);
            }
        }
        return (x, y);
    }
}
