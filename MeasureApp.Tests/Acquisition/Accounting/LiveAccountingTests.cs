using MeasureApp.Acquisition.Accounting;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Time.Testing;
using static MeasureApp.Tests.Acquisition.EngineHarness;

namespace MeasureApp.Tests.Acquisition.Accounting;

public sealed class LiveAccountingTests
{
    /// <summary>One pixel column per sample: every block yields a frame with every sample.</summary>
    private static readonly LiveView EverySample = new(PixelWidth: 10_000, Window: TimeSpan.FromSeconds(1));

    private readonly ResourceAccountant _accountant = new(new FakeTimeProvider());
    private readonly LiveHub _hub;
    private readonly Dictionary<Guid, Measurement> _measurements = [];

    public LiveAccountingTests() => _hub = new LiveHub(_accountant);

    [Fact]
    public void BufferMemoryRisesWhileFramesQueueAndReturnsToZeroWhenTheyAreRead()
    {
        var m = Open(Alice);
        using var sub = _hub.Subscribe(m.Id, Alice, EverySample)!;

        Publish(m, count: 100);
        Publish(m, count: 50);
        var queued = Usage(Alice).BufferBytes;
        var read = new List<long>();
        while (sub.Frames.TryRead(out var frame))
        {
            read.Add(TrafficEstimate.MemoryBytes(frame));
        }

        Assert.Equal(2, read.Count);
        Assert.True(queued > 150 * TrafficEstimate.MemoryBytesPerPoint, $"{queued} bytes queued");
        Assert.Equal(read.Sum(), queued);
        Assert.Equal(0, Usage(Alice).BufferBytes);
    }

    [Fact]
    public void DisposingASubscriptionWithQueuedFramesReturnsItsBufferMemoryAndClosesIt()
    {
        var m = Open(Alice);
        var sub = _hub.Subscribe(m.Id, Alice, EverySample)!;
        Publish(m, count: 100);
        var whileOpen = Usage(Alice);

        sub.Dispose();
        Publish(m, count: 100);
        sub.Dispose();

        Assert.True(whileOpen.BufferBytes > 0);
        Assert.Equal(1, whileOpen.OpenSubscriptions);
        Assert.Equal(0, Usage(Alice).BufferBytes);
        Assert.Equal(0, Usage(Alice).OpenSubscriptions);
    }

    [Fact]
    public void DropsAndBufferMemoryAreChargedToTheSubscriberNotTheOwner()
    {
        var m = Open(Alice);
        using var admin = _hub.Subscribe(m.Id, AnAdmin, EverySample, capacity: 2)!;

        for (var i = 0; i < 5; i++)
        {
            Publish(m, count: 100);
        }
        var afterPublish = _accountant.Snapshot();
        var kept = 0L;
        while (admin.Frames.TryRead(out var frame))
        {
            kept += TrafficEstimate.MemoryBytes(frame);
        }

        Assert.Equal(3, AccountedEngine.UsageOf(afterPublish, AnAdmin).DroppedFrames);
        Assert.Equal(3, admin.DroppedFrames);
        Assert.Equal(kept, AccountedEngine.UsageOf(afterPublish, AnAdmin).BufferBytes);
        Assert.Equal(0, AccountedEngine.UsageOf(afterPublish, Alice).DroppedFrames);
        Assert.Equal(0, AccountedEngine.UsageOf(afterPublish, Alice).BufferBytes);
        Assert.Equal(0, Usage(AnAdmin).BufferBytes);
    }

    [Fact]
    public void FramesLeftAfterTheMeasurementStopsStillCountUntilDrained()
    {
        var m = Open(Alice);
        using var sub = _hub.Subscribe(m.Id, Alice, EverySample)!;
        Publish(m, count: 100);

        _hub.Close(m.Id);
        var afterClose = Usage(Alice).BufferBytes;
        while (sub.Frames.TryRead(out _))
        {
        }

        Assert.True(afterClose > 0);
        Assert.Equal(0, Usage(Alice).BufferBytes);
        Assert.True(sub.Frames.Completion.IsCompleted);
    }

    [Fact]
    public async Task ConcurrentPublishingReadingAndDisposingLeaveNoBufferMemoryBehind()
    {
        var m = Open(Alice);
        var subs = Enumerable.Range(0, 3).Select(_ => _hub.Subscribe(m.Id, Alice, EverySample, capacity: 4)!).ToArray();

        var publisher = Task.Run(() =>
        {
            for (var i = 0; i < 3000; i++)
            {
                Publish(m, count: 20);
            }
        });
        var readers = subs.Select((s, i) => Task.Run(async () =>
        {
            // The first reader disposes half-way (a tab closing while frames flow); the others drain to the end.
            var n = 0;
            await foreach (var _ in s.Frames.ReadAllAsync())
            {
                if (i == 0 && ++n == 100)
                {
                    s.Dispose();
                }
            }
        })).ToArray();
        await publisher;
        _hub.Close(m.Id);
        await Task.WhenAll(readers).WaitAsync(TestTimeouts.HangGuard);
        foreach (var s in subs)
        {
            s.Dispose();
        }

        var usage = Usage(Alice);
        Assert.Equal(0, usage.BufferBytes);
        Assert.Equal(0, usage.OpenSubscriptions);
        Assert.Equal(subs.Sum(s => s.DroppedFrames), usage.DroppedFrames);
    }

    private UserUsage Usage(Requester user) => AccountedEngine.UsageOf(_accountant.Snapshot(), user);

    private MeasurementInfo Open(Requester owner)
    {
        var info = AccountedEngine.LiveInfo(owner);
        _hub.Open(info);
        _measurements[info.Id] = new Measurement(info);
        return info;
    }

    /// <summary>Publishes one block as the engine does: stamped by its measurement, released after the fan-out.</summary>
    private void Publish(MeasurementInfo info, int count)
    {
        var block = SampleBlock.Rent(1, count);
        block.WritableChannel(0).Fill(1);
        Assert.True(_measurements[info.Id].Stamp(block));
        _hub.Publish(block);
        block.Release();
    }
}
