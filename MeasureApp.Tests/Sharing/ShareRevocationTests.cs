using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.History;
using MeasureApp.Identity;
using MeasureApp.Limits;
using MeasureApp.Live;
using MeasureApp.Sharing;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace MeasureApp.Tests.Sharing;

/// <summary>
/// A shared reader's open tab on each provider: their live chart of a running measurement draws through the
/// catalog's read check (an unrelated user's attach is refused), and their replay plays; the owner's revoke
/// ends both at once — the chart is detached and told why, the hub drops the subscription, the replay is
/// unloaded with a notice — and a new attach or replay is refused.
/// </summary>
public sealed class ShareRevocationTests
{
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task RevokingAShareEndsTheReadersOpenLiveChartAndReplayAtOnce(DatabaseProvider provider)
    {
        using var factory = new AppFactory(provider);
        var services = factory.Services;
        var engine = services.GetRequiredService<MeasurementEngine>();
        var hub = services.GetRequiredService<LiveHub>();
        var shares = services.GetRequiredService<ShareService>();
        var owner = await RequesterAsync(services);
        var reader = await RequesterAsync(services);
        var stranger = await RequesterAsync(services);
        var stored = await AccessProbe.StoreMeasurementAsync(services, owner.UserId, owner.UserName, "stored, shared");
        var started = await engine.StartAsync(owner, new UserLimits(), new StartRequest { DeviceId = "sim-1", Name = "running, shared", Channels = 1, SampleRate = 1000 }, CancellationToken.None);
        Assert.True(started.Succeeded, started.Error);
        var running = started.Measurement!.Id;
        await using var readerTab = Session(services, reader);
        await using var strangerTab = Session(services, stranger);
        await using var replay = Playback(services, reader);
        await using var strangerReplay = Playback(services, stranger);
        try
        {
            foreach (var id in new[] { stored, running })
            {
                Assert.Equal(ShareOutcome.Ok, (await shares.ShareAsync(owner, id, reader.UserName, CancellationToken.None)).Outcome);
            }

            // Live: the reader's chart draws; the stranger's attach is refused like an unknown id.
            var drew = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var fault = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
            var chart = await readerTab.AttachAsync(running, 200, frame => { drew.TrySetResult(); return Task.CompletedTask; }, _ => { }, ex => fault.TrySetResult(ex));
            Assert.NotNull(chart);
            Assert.Null(await strangerTab.AttachAsync(running, 200, _ => Task.CompletedTask, _ => { }));
            await drew.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(1, hub.SubscriberCount(running));

            // Replay of the stored one plays.
            Assert.True(await replay.LoadReplayAsync(reader, stored, CancellationToken.None));
            Assert.False(await strangerReplay.LoadReplayAsync(stranger, stored, CancellationToken.None));
            Assert.NotNull(replay.Source);

            // The owner revokes both: the open chart and the replay end at once, with a reason.
            Assert.Equal(ShareOutcome.Ok, (await shares.RevokeAsync(owner, running, reader.UserName, CancellationToken.None)).Outcome);
            Assert.IsType<AccessRevokedException>(await fault.Task.WaitAsync(TimeSpan.FromSeconds(5)));
            Assert.Equal(0, hub.SubscriberCount(running));
            Assert.Null(await readerTab.AttachAsync(running, 200, _ => Task.CompletedTask, _ => { }));

            Assert.Equal(ShareOutcome.Ok, (await shares.RevokeAsync(owner, stored, reader.UserName, CancellationToken.None)).Outcome);
            Assert.Null(replay.Source);
            Assert.Equal(AccessRevokedException.Notice, replay.Notice);
            Assert.False(await replay.LoadReplayAsync(reader, stored, CancellationToken.None));
            Assert.Equal(0, services.GetRequiredService<ShareRevocations>().Count(stored, reader.UserId));
        }
        finally
        {
            await engine.StopAsync(running, owner, CancellationToken.None);
        }
    }

    private static async Task<Requester> RequesterAsync(IServiceProvider services)
    {
        var user = await Users.CreateOperatorAsync(services);
        return new Requester(user.Id, user.Email!, IsAdmin: false);
    }

    private static UserSession Session(IServiceProvider services, Requester who) =>
        new(services.GetRequiredService<MeasurementEngine>(), services.GetRequiredService<LiveHub>(), services.GetRequiredService<LimitsService>(),
            new CurrentUser(new TestPrincipal(who.UserId, who.UserName, isAdmin: false)), TimeProvider.System, NullLogger<UserSession>.Instance,
            catalog: services.GetRequiredService<MeasurementCatalog>(), revocations: services.GetRequiredService<ShareRevocations>());

    private static TabPlayback Playback(IServiceProvider services, Requester who) =>
        new(services.GetRequiredService<ISampleStore>(), services.GetRequiredService<MeasurementCatalog>(),
            new CurrentUser(new TestPrincipal(who.UserId, who.UserName, isAdmin: false)), TimeProvider.System, NullLogger<TabPlayback>.Instance,
            revocations: services.GetRequiredService<ShareRevocations>());
}
