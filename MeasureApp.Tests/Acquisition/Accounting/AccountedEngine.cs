using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Accounting;
using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Acquisition.Accounting;

/// <summary>
/// The engine wired as <see cref="EngineHarness"/> wires it, plus one <see cref="ResourceAccountant"/>
/// shared by the engine and the hub (as the host registers it), all on one fake clock.
/// </summary>
internal sealed class AccountedEngine : IAsyncDisposable
{
    private AccountedEngine()
    {
        var options = Options.Create(new AcquisitionOptions
        {
            Devices = [new DeviceOptions { Id = EngineHarness.DeviceId, Seed = 5, SpikeProbability = 0 }],
            BlockMilliseconds = 5,
        });
        Accountant = new ResourceAccountant(Time);
        Hub = new LiveHub(Accountant);
        Driver = new ObservedDriver(new SimulatedDriver(Time, options, NullLogger<SimulatedDriver>.Instance));
        Writer = new StoreWriter(Store, options, Time, NullLogger<StoreWriter>.Instance);
        Engine = new MeasurementEngine(options, [Driver], Hub, Writer, Store, Limits, Time, NullLogger<MeasurementEngine>.Instance, Accountant);
    }

    /// <summary>A running one-channel 1 kHz measurement of <paramref name="owner"/>, as the hub tests open it.</summary>
    public static MeasurementInfo LiveInfo(Requester owner) => new()
    {
        Id = Guid.NewGuid(),
        OwnerId = owner.UserId,
        OwnerName = owner.UserName,
        Name = "live",
        DeviceId = "sim1",
        Channels = [new ChannelInfo("ch1", "V")],
        SampleRate = 1000,
        State = MeasurementState.Running,
        StartedAt = DateTimeOffset.UnixEpoch,
    };

    public FakeTimeProvider Time { get; } = new();
    public ResourceAccountant Accountant { get; }
    public InMemorySampleStore Store { get; } = new();
    public InProcessLimitCoordinator Limits { get; } = new();
    public LiveHub Hub { get; }
    public StoreWriter Writer { get; }
    public ObservedDriver Driver { get; }
    public MeasurementEngine Engine { get; }

    public static async Task<AccountedEngine> StartNewAsync()
    {
        var e = new AccountedEngine();
        await e.Writer.StartAsync(CancellationToken.None);
        await e.Engine.StartAsync(CancellationToken.None);
        return e;
    }

    public async Task<MeasurementInfo> StartMeasurementAsync(Requester requester, StartRequest request)
    {
        var result = await Engine.StartAsync(requester, new UserLimits(), request, CancellationToken.None);
        Assert.True(result.Succeeded, result.Error);
        return result.Measurement!;
    }

    /// <summary>The user's row of a fresh snapshot; an all-zero row when the user was never charged.</summary>
    public UserUsage UsageOf(Requester user) => UsageOf(Accountant.Snapshot(), user);

    public static UserUsage UsageOf(IReadOnlyList<UserUsage> snapshot, Requester user) =>
        snapshot.SingleOrDefault(u => u.UserId == user.UserId) ?? new UserUsage { UserId = user.UserId };

    public async ValueTask DisposeAsync()
    {
        await Engine.StopAsync(CancellationToken.None);
        await Writer.StopAsync(CancellationToken.None);
        Engine.Dispose();
        Writer.Dispose();
    }
}
