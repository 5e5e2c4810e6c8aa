using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;

namespace MeasureApp.Tests.Acquisition;

public sealed class LiveHubTests
{
    private static readonly Requester Alice = new("alice-id", "alice@example.com", IsAdmin: false);
    private static readonly Requester Bob = new("bob-id", "bob@example.com", IsAdmin: false);
    private static readonly Requester Admin = new("admin-id", "admin@example.com", IsAdmin: true);

    /// <summary>One pixel column per sample: every block yields a frame with every sample.</summary>
    private static readonly LiveView EverySample = new(PixelWidth: 10_000, Window: TimeSpan.FromSeconds(1));

    private readonly Dictionary<Guid, Measurement> _measurements = [];

    [Fact]
    public void OnlyTheOwnerAndAdminsMaySubscribe()
    {
        var hub = new LiveHub();
        var m = Open(hub, Alice);

        using var owner = hub.Subscribe(m.Id, Alice, EverySample);
        using var admin = hub.Subscribe(m.Id, Admin, EverySample);
        var other = hub.Subscribe(m.Id, Bob, EverySample);
        var unknown = hub.Subscribe(Guid.NewGuid(), Admin, EverySample);

        Assert.NotNull(owner);
        Assert.NotNull(admin);
        Assert.Null(other);
        Assert.Null(unknown);
        Assert.Equal(2, hub.SubscriberCount(m.Id));
    }

    [Fact]
    public void AStoppedMeasurementCannotBeSubscribedAndItsSubscriptionsComplete()
    {
        var hub = new LiveHub();
        var m = Open(hub, Alice);
        using var sub = hub.Subscribe(m.Id, Alice, EverySample)!;

        hub.Close(m.Id);

        Assert.True(sub.Frames.Completion.IsCompleted);
        Assert.Null(hub.Subscribe(m.Id, Alice, EverySample));
        Assert.Equal(0, hub.SubscriberCount(m.Id));
    }

    [Fact]
    public void ABlockReachesEverySubscriptionOfItsMeasurementAndNoOther()
    {
        var hub = new LiveHub();
        var a = Open(hub, Alice);
        var b = Open(hub, Bob);
        using var a1 = hub.Subscribe(a.Id, Alice, EverySample)!;
        using var a2 = hub.Subscribe(a.Id, Admin, EverySample)!;
        using var b1 = hub.Subscribe(b.Id, Bob, EverySample)!;

        Publish(hub, a, count: 100, value: 1);

        Assert.True(a1.Frames.TryRead(out var f1));
        Assert.True(a2.Frames.TryRead(out var f2));
        Assert.False(b1.Frames.TryRead(out _));
        Assert.Equal(100, f1.X[0].Count);
        Assert.Equal(f1.Y[0], f2.Y[0]);
        Assert.Equal(100, a1.SamplesSeen);
        Assert.Equal(0, b1.SamplesSeen);
    }

    [Fact]
    public void FramesCarryTimesSinceTheStartAndTheValuesOfEachChannel()
    {
        var hub = new LiveHub();
        var m = Open(hub, Alice, channels: 2, rate: 500);
        using var sub = hub.Subscribe(m.Id, Alice, EverySample)!;

        Publish(hub, m, count: 10, value: 1);
        Publish(hub, m, count: 10, value: 2);

        Assert.True(sub.Frames.TryRead(out var first));
        Assert.True(sub.Frames.TryRead(out var second));
        Assert.Equal(Enumerable.Range(10, 10).Select(i => i / 500.0), second.X[1]);
        Assert.All(first.Y[0], v => Assert.Equal(1f, v));
        Assert.All(second.Y[1], v => Assert.Equal(-2f, v));
        Assert.Equal(10, second.SampleCount);
    }

    [Fact]
    public void ASlowReaderLosesTheOldestFramesCountedAndTheBufferNeverGrowsBeyondItsCapacity()
    {
        var hub = new LiveHub();
        var m = Open(hub, Alice);
        using var sub = hub.Subscribe(m.Id, Alice, EverySample, capacity: 4)!;

        for (var i = 0; i < 50; i++)
        {
            Publish(hub, m, count: 10, value: i);
            Assert.InRange(sub.Frames.Count, 1, 4);
        }

        Assert.Equal(46, sub.DroppedFrames);
        Assert.Equal(500, sub.SamplesSeen);
        // Drop-oldest: what is left are the newest frames.
        var left = new List<float>();
        while (sub.Frames.TryRead(out var frame))
        {
            left.Add(frame.Y[0][0]);
        }
        Assert.Equal([46f, 47f, 48f, 49f], left);
    }

    [Fact]
    public void EventsAlwaysReachTheFrameEvenWhenNoColumnIsComplete()
    {
        var hub = new LiveHub();
        var m = Open(hub, Alice);
        // 10 s over 10 px at 1 kHz: 1000 samples per column, so a 100-sample block completes none.
        using var sub = hub.Subscribe(m.Id, Alice, new LiveView(10, TimeSpan.FromSeconds(10)))!;
        var spike = new SampleEvent(SampleIndex: 42, Channel: 0, Kind: "spike", Value: 5);

        Publish(hub, m, count: 100, value: 0, events: [spike]);

        Assert.True(sub.Frames.TryRead(out var frame));
        Assert.Equal([spike], frame.Events);
        Assert.Empty(frame.X[0]);
    }

    [Fact]
    public void EventsOfEveryBlockAreInItsFrame()
    {
        var hub = new LiveHub();
        var m = Open(hub, Alice);
        using var sub = hub.Subscribe(m.Id, Alice, EverySample)!;
        var events = new[] { new SampleEvent(3, 0, "spike", 9), new SampleEvent(7, 0, "threshold", 1) };

        Publish(hub, m, count: 10, value: 0, events: events);

        Assert.True(sub.Frames.TryRead(out var frame));
        Assert.Equal(events, frame.Events);
    }

    [Fact]
    public void EventsOfDroppedFramesRideOnTheNextFrame()
    {
        var hub = new LiveHub();
        var m = Open(hub, Alice);
        using var sub = hub.Subscribe(m.Id, Alice, EverySample, capacity: 2)!;
        var events = Enumerable.Range(0, 5).Select(i => new SampleEvent(i * 10 + 3, 0, "spike", 9)).ToList();

        foreach (var e in events)
        {
            Publish(hub, m, count: 10, value: 0, events: [e]);
        }
        Publish(hub, m, count: 10, value: 0);
        var seen = new List<SampleEvent>();
        while (sub.Frames.TryRead(out var frame))
        {
            seen.AddRange(frame.Events);
        }
        Publish(hub, m, count: 10, value: 0);
        while (sub.Frames.TryRead(out var frame))
        {
            seen.AddRange(frame.Events);
        }

        Assert.True(sub.DroppedFrames > 0);
        Assert.Equal(events, seen.OrderBy(e => e.SampleIndex).ToList());
    }

    [Fact]
    public void DisposingASubscriptionRemovesItAndCompletesItsFrames()
    {
        var hub = new LiveHub();
        var m = Open(hub, Alice);
        var first = hub.Subscribe(m.Id, Alice, EverySample)!;
        using var second = hub.Subscribe(m.Id, Alice, EverySample)!;
        Assert.Equal(2, hub.SubscriberCount(m.Id));

        first.Dispose();
        first.Dispose();
        Publish(hub, m, count: 10, value: 1);

        Assert.Equal(1, hub.SubscriberCount(m.Id));
        Assert.True(first.Frames.Completion.IsCompleted);
        Assert.Equal(0, first.SamplesSeen);
        Assert.Equal(10, second.SamplesSeen);
    }

    [Fact]
    public void ChangingTheViewChangesTheColumnSizeOfTheNextBlocks()
    {
        var hub = new LiveHub();
        var m = Open(hub, Alice);
        using var sub = hub.Subscribe(m.Id, Alice, EverySample)!;

        sub.ChangeView(new LiveView(PixelWidth: 10, Window: TimeSpan.FromSeconds(1)));
        Publish(hub, m, count: 1000, value: 1);

        Assert.True(sub.Frames.TryRead(out var frame));
        // 100 samples per column, 10 columns, a constant signal: first and last of each column.
        Assert.Equal(20, frame.X[0].Count);
    }

    private MeasurementInfo Open(LiveHub hub, Requester owner, int channels = 1, double rate = 1000)
    {
        var info = new MeasurementInfo
        {
            Id = Guid.NewGuid(),
            OwnerId = owner.UserId,
            OwnerName = owner.UserName,
            Name = "live",
            DeviceId = "sim1",
            Channels = [.. Enumerable.Range(0, channels).Select(i => new ChannelInfo($"ch{i + 1}", "V"))],
            SampleRate = rate,
            State = MeasurementState.Running,
            StartedAt = DateTimeOffset.UnixEpoch,
        };
        hub.Open(info);
        _measurements[info.Id] = new Measurement(info);
        return info;
    }

    /// <summary>Publishes one block as the engine does: stamped by its measurement, released after the fan-out.</summary>
    private void Publish(LiveHub hub, MeasurementInfo info, int count, float value, IReadOnlyList<SampleEvent>? events = null)
    {
        var block = SampleBlock.Rent(info.Channels.Count, count);
        for (var c = 0; c < info.Channels.Count; c++)
        {
            // Channel c holds value × (−1)^c so channels can be told apart.
            block.WritableChannel(c).Fill(c % 2 == 0 ? value : -value);
        }
        block.Events = events ?? [];
        Assert.True(_measurements[info.Id].Stamp(block));
        hub.Publish(block);
        block.Release();
    }
}
