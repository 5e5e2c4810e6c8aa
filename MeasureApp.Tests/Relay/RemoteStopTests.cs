using MeasureApp.Acquisition.Measurements;
using MeasureApp.Identity;
using MeasureApp.Live;
using MeasureApp.Relay;
using MeasureApp.Tests.Acquisition;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using static MeasureApp.Tests.Acquisition.EngineHarness;

namespace MeasureApp.Tests.Relay;

/// <summary>Stopping from instance B a measurement acquired on instance A (real Redis, one process).</summary>
public sealed class RemoteStopTests
{
    public static TheoryData<string, StopReason> Stoppers => new()
    {
        { "owner", StopReason.User },
        { "admin", StopReason.Admin },
    };

    [Theory]
    [MemberData(nameof(Stoppers))]
    public async Task TheOwnerOrAnAdminOnBStopsAMeasurementRunningOnA(string who, StopReason expected)
    {
        await using var two = await TwoInstances.StartAsync();
        var m = await two.StartOnAAsync(Alice);
        var stopped = two.A.WhenStopped(Alice.UserId, m.Id);
        await using var tabOnB = TabOnB(two, who == "admin" ? AnAdmin : Alice);

        Assert.Equal(StopOutcome.Stopped, await tabOnB.StopMeasurementAsync(m.Id, CancellationToken.None));

        Assert.Equal(expected, (await stopped).StopReason);
        Assert.Null(two.A.Engine.Find(m.Id, AnAdmin));
        // Stopping again: it runs nowhere any more.
        Assert.False(await tabOnB.StopAsync(m.Id, CancellationToken.None));
    }

    [Fact]
    public async Task AnotherUserOnBGetsNotFoundAndTheMeasurementKeepsRunning()
    {
        await using var two = await TwoInstances.StartAsync();
        var m = await two.StartOnAAsync(Alice);
        await using var bobOnB = TabOnB(two, Bob);

        Assert.Equal(StopOutcome.NotFound, await bobOnB.StopMeasurementAsync(m.Id, CancellationToken.None));
        Assert.False(await bobOnB.StopAsync(m.Id, CancellationToken.None));

        Assert.NotNull(two.A.Engine.Find(m.Id, Alice));
    }

    [Fact]
    public async Task AForgedRequestWithAnotherUsersIdIsRefusedByATooAndGarbageIsIgnored()
    {
        await using var two = await TwoInstances.StartAsync();
        var m = await two.StartOnAAsync(Alice);
        var subscriber = two.RedisB.GetSubscriber();
        var stopChannel = RedisChannel.Literal(two.Options.Prefix + "stop");
        var forged = new StopRequest(Guid.NewGuid(), m.Id, Bob.UserId, Bob.UserName, IsAdmin: false);
        var answer = new TaskCompletionSource<StopReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        var replies = await subscriber.SubscribeAsync(RedisChannel.Literal($"{two.Options.Prefix}stopped:{forged.RequestId:N}"));
        replies.OnMessage(msg => answer.TrySetResult(RelayCodec.DecodeStopReply((byte[])msg.Message!)));

        // Garbage first: A logs and ignores it, then still answers the real request.
        await subscriber.PublishAsync(stopChannel, new byte[] { 1, 5, 42 });
        await subscriber.PublishAsync(stopChannel, RelayCodec.Encode(forged));

        var reply = await answer.Task.WaitAsync(TestTimeouts.HangGuard);
        Assert.Equal(forged.RequestId, reply.RequestId);
        Assert.False(reply.Stopped);
        Assert.NotNull(two.A.Engine.Find(m.Id, Alice));
        await replies.UnsubscribeAsync();
    }

    [Fact]
    public async Task WhenAIsGoneBReportsThatTheInstanceDidNotAnswerAndThrowsNothing()
    {
        await using var two = await TwoInstances.StartAsync();
        var m = await two.StartOnAAsync(Alice);
        // A's relay goes away (as with a hung or crashed instance) while its row stays Running.
        await two.HostA.StopAsync(CancellationToken.None);
        var options = new RelayOptions { Prefix = two.Options.Prefix, RenewInterval = two.Options.RenewInterval, Lease = two.Options.Lease, StopTimeout = TimeSpan.FromSeconds(1) };
        using var client = new LiveRelayClient(two.RedisB, two.Db, two.B.Engine, Microsoft.Extensions.Options.Options.Create(options), TimeProvider.System, NullLogger<LiveRelayClient>.Instance, new MeasureApp.Coordination.RedisReachability(two.RedisB, TimeProvider.System, NullLogger.Instance));

        Assert.Equal(StopOutcome.NoAnswer, await two.B.Engine.StopAnywhereAsync(client, m.Id, Alice, CancellationToken.None));

        Assert.NotNull(two.A.Engine.Find(m.Id, Alice));
        Assert.Contains("did not answer", MeasurementStopping.Describe(StopOutcome.NoAnswer), StringComparison.Ordinal);
    }

    [Fact]
    public void StopMessagesRoundTripAndCorruptOnesAreRefused()
    {
        var request = new StopRequest(Guid.NewGuid(), Guid.NewGuid(), "user-ä", "Ü Name", IsAdmin: true);
        Assert.Equal(request, RelayCodec.DecodeStop(RelayCodec.Encode(request)));
        var reply = new StopReply(Guid.NewGuid(), Stopped: true);
        Assert.Equal(reply, RelayCodec.DecodeStopReply(RelayCodec.Encode(reply)));

        var bytes = RelayCodec.Encode(request);
        Assert.Throws<FormatException>(() => RelayCodec.DecodeStop(bytes.AsSpan(0, bytes.Length - 3)));
        Assert.Throws<FormatException>(() => RelayCodec.DecodeStop([.. bytes, 0]));
        Assert.Throws<FormatException>(() => RelayCodec.DecodeStopReply(bytes));
        Assert.Throws<FormatException>(() => RelayCodec.DecodeStop(RelayCodec.Encode(reply)));
    }

    private static UserSession TabOnB(TwoInstances two, Requester user) =>
        new(two.B.Engine, two.B.Hub, null!, new CurrentUser(new LoggedIn(user)), TimeProvider.System, NullLogger<UserSession>.Instance, relay: two.ClientB);
}
