using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.History;
using MeasureApp.Identity;
using MeasureApp.Live;
using MeasureApp.Tests.History;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Replay;

/// <summary>The per-tab REPLAY / SIMULATION player, stepped with a fake clock (SQLite store).</summary>
public sealed class TabPlaybackTests : IAsyncLifetime
{
    private readonly AppFactory _factory = new(DatabaseProvider.Sqlite);
    private readonly FakeTimeProvider _time = new();
    private TabPlayback _playback = null!;

    public Task InitializeAsync()
    {
        var services = _factory.Services;
        // The requester overloads are used below, so the circuit's user is never asked for.
        _playback = new TabPlayback(services.GetRequiredService<ISampleStore>(), services.GetRequiredService<MeasurementCatalog>(),
            new CurrentUser(null!), _time, NullLogger<TabPlayback>.Instance, services.GetRequiredService<SimulationAdmission>());
        return Task.CompletedTask;
    }

    [Fact]
    public async Task AnotherUsersMeasurementCannotBeReplayedButTheOwnersCan()
    {
        var owner = await Users.CreateOperatorAsync(_factory.Services, "replay-owner@test.local");
        var other = await Users.CreateOperatorAsync(_factory.Services, "replay-other@test.local");
        var id = await SpikeMeasurement.CreateAsync(_factory.Services, owner.Id);

        Assert.False(await _playback.LoadReplayAsync(new Requester(other.Id, other.Email!, IsAdmin: false), id, CancellationToken.None));
        Assert.Null(_playback.Source);
        Assert.False(await _playback.LoadReplayAsync(new Requester(owner.Id, owner.Email!, IsAdmin: false), Guid.NewGuid(), CancellationToken.None));

        Assert.True(await _playback.LoadReplayAsync(new Requester(owner.Id, owner.Email!, IsAdmin: false), id, CancellationToken.None));
        Assert.Equal(id, _playback.Source!.MeasurementId);
        Assert.Equal(10, _playback.Source.DurationSeconds!.Value, 9);
    }

    [Fact]
    public async Task ReplayFramesFollowTheTabsClockAndKeepASingleSampleSpike()
    {
        var owner = await Users.CreateOperatorAsync(_factory.Services, "replay-frames@test.local");
        var id = await SpikeMeasurement.CreateAsync(_factory.Services, owner.Id);
        Assert.True(await _playback.LoadReplayAsync(new Requester(owner.Id, owner.Email!, IsAdmin: false), id, CancellationToken.None));

        // Paused after loading: nothing is due however much time passes.
        _time.Advance(TimeSpan.FromSeconds(3));
        Assert.Null(await _playback.NextFrameAsync(1000, CancellationToken.None));

        _playback.Play();
        _time.Advance(TimeSpan.FromSeconds(2));
        var first = await _playback.NextFrameAsync(1000, CancellationToken.None);
        Assert.NotNull(first);
        // 1000 columns over a 10 s window: 10 ms per column, min and max each.
        Assert.InRange(first.X[0][0], 0, 0.01);
        Assert.InRange(first.X[0][^1], 1.98, 2.0);
        Assert.DoesNotContain(SpikeMeasurement.SpikeValue, first.Y[0]);

        _playback.SetSpeed(10);
        _time.Advance(TimeSpan.FromSeconds(0.5));
        var second = await _playback.NextFrameAsync(1000, CancellationToken.None);
        Assert.NotNull(second);
        Assert.InRange(second.X[0][0], 2.0, 2.01);
        Assert.InRange(second.X[0][^1], 6.98, 7.0);
        Assert.Contains(SpikeMeasurement.SpikeValue, second.Y[0]);

        _playback.Pause();
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Null(await _playback.NextFrameAsync(1000, CancellationToken.None));
        Assert.Equal(7, _playback.Position, 6);
    }

    [Fact]
    public async Task PlayingPastTheEndStopsAtTheEnd()
    {
        var owner = await Users.CreateOperatorAsync(_factory.Services, "replay-end@test.local");
        var id = await SpikeMeasurement.CreateAsync(_factory.Services, owner.Id);
        Assert.True(await _playback.LoadReplayAsync(new Requester(owner.Id, owner.Email!, IsAdmin: false), id, CancellationToken.None));
        _playback.Seek(9);
        _playback.SetSpeed(100);
        _playback.Play();
        _time.Advance(TimeSpan.FromSeconds(1));

        var last = await _playback.NextFrameAsync(1000, CancellationToken.None);

        Assert.NotNull(last);
        Assert.True(_playback.Paused);
        Assert.Equal(10, _playback.Position, 6);
        Assert.InRange(last.X[0][^1], 9.98, 10.0);
    }

    [Fact]
    public async Task WhilePlayingThePlayerTellsItsSubscribersThePositionFourTimesASecondAndNotWhilePaused()
    {
        var owner = await Users.CreateOperatorAsync(_factory.Services, "replay-ticks@test.local");
        var id = await SpikeMeasurement.CreateAsync(_factory.Services, owner.Id);
        Assert.True(await _playback.LoadReplayAsync(new Requester(owner.Id, owner.Email!, IsAdmin: false), id, CancellationToken.None));
        var changes = 0;
        _playback.Changed += () => Interlocked.Increment(ref changes);

        // Paused after loading: time passes, nobody is told anything.
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0, changes);

        _playback.Play();
        Assert.Equal(1, changes);
        for (var tick = 0; tick < 4; tick++)
        {
            _time.Advance(TabPlayback.PositionInterval);
        }
        Assert.Equal(5, changes);

        _playback.Pause();
        Assert.Equal(6, changes);
        for (var tick = 0; tick < 8; tick++)
        {
            _time.Advance(TabPlayback.PositionInterval);
        }
        Assert.Equal(6, changes);
        Assert.Equal(1, _playback.Position, 6);
    }

    [Fact]
    public async Task ASimulationPlaysTheDeviceSignalWithoutStoringAnything()
    {
        var engine = _factory.Services.GetRequiredService<MeasurementEngine>();
        var admin = new Requester("admin", AppFactory.AdminEmail, IsAdmin: true);
        var catalog = _factory.Services.GetRequiredService<MeasurementCatalog>();
        var before = (await catalog.ListAsync(admin, new MeasurementQuery(), CancellationToken.None)).Total;

        Assert.Null(await _playback.StartSimulationAsync(admin, engine.Devices[0], channels: 2, sampleRate: 1000, CancellationToken.None));
        Assert.False(_playback.Paused);
        _time.Advance(TimeSpan.FromSeconds(1));
        var frame = await _playback.NextFrameAsync(10_000, CancellationToken.None);

        Assert.NotNull(frame);
        Assert.Equal(2, frame.X.Length);
        // 1 kHz over 10 000 columns of a 10 s window: one sample per column, so the frame holds the raw samples.
        Assert.Equal(1000, frame.X[1].Count);
        var expected = MeasureApp.Acquisition.Devices.SimulatedDriver.CreateBlock(engine.Devices[0], 2, 1000, 0, 1000, 0);
        Assert.Equal(expected.Channel(1).ToArray(), frame.Y[1]);
        expected.Release();
        Assert.Empty(engine.GetRunning(admin));
        Assert.Equal(before, (await catalog.ListAsync(admin, new MeasurementQuery(), CancellationToken.None)).Total);
    }

    [Fact]
    public async Task ASimulationKeepsToTheUsersLimitsAndIsAccountedToThem()
    {
        var engine = _factory.Services.GetRequiredService<MeasurementEngine>();
        var user = await Users.CreateOperatorAsync(_factory.Services, "sim-limited@test.local");
        var admin = new Requester("admin", AppFactory.AdminEmail, IsAdmin: true);
        var limits = _factory.Services.GetRequiredService<MeasureApp.Limits.LimitsAdminService>();
        Assert.Empty(await limits.SaveOverridesAsync(admin, user.Id, new MeasureApp.Limits.LimitOverrides { MaxSampleRate = 1000, MaxChannels = 1, MaxParallelMeasurements = 1 }, CancellationToken.None));
        var requester = new Requester(user.Id, user.Email!, IsAdmin: false);
        await using var secondTab = new TabPlayback(_factory.Services.GetRequiredService<ISampleStore>(), _factory.Services.GetRequiredService<MeasurementCatalog>(),
            new CurrentUser(null!), _time, NullLogger<TabPlayback>.Instance, _factory.Services.GetRequiredService<SimulationAdmission>());

        var tooFast = await _playback.StartSimulationAsync(requester, engine.Devices[0], channels: 1, sampleRate: 1_000_000, CancellationToken.None);
        var tooWide = await _playback.StartSimulationAsync(requester, engine.Devices[0], channels: 8, sampleRate: 1000, CancellationToken.None);
        var allowed = await _playback.StartSimulationAsync(requester, engine.Devices[0], channels: 1, sampleRate: 1000, CancellationToken.None);
        var secondAtOnce = await secondTab.StartSimulationAsync(requester, engine.Devices[0], channels: 1, sampleRate: 1000, CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(1));
        await _playback.NextFrameAsync(10_000, CancellationToken.None);

        Assert.Contains("1,000 Hz", tooFast, StringComparison.Ordinal);
        Assert.Contains("limit of 1", tooWide, StringComparison.Ordinal);
        Assert.Null(allowed);
        Assert.Contains("1 of 1 allowed simulations", secondAtOnce, StringComparison.Ordinal);
        var usage = _factory.Services.GetRequiredService<MeasureApp.Acquisition.Accounting.ResourceAccountant>().Snapshot().Single(u => u.UserId == user.Id);
        Assert.Equal(1000, usage.Samples);
        _playback.Clear();
        Assert.Null(await secondTab.StartSimulationAsync(requester, engine.Devices[0], channels: 1, sampleRate: 1000, CancellationToken.None));
    }

    public async Task DisposeAsync()
    {
        await _playback.DisposeAsync();
        await _factory.DisposeAsync();
    }
}
