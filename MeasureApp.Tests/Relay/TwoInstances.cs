using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Relay;
using MeasureApp.Tests.Acquisition;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace MeasureApp.Tests.Relay;

/// <summary>
/// Two app instances in one process, as far as live data goes: each its own engine and hub (fake
/// acquisition clock), its own connection to the one real Redis, both relay sides, and one shared
/// database. Channels and keys carry a prefix of their own, so tests never hear each other.
/// </summary>
internal sealed class TwoInstances : IAsyncDisposable
{
    /// <summary>A device on A whose signal has spikes (about one sample in a hundred).</summary>
    public static readonly DeviceOptions SpikyDevice = new() { Id = "spiky1", Seed = 11, SpikeProbability = 0.01 };

    private readonly TimeProvider _relayTimeA;

    private TwoInstances(EngineHarness a, EngineHarness b, ConnectionMultiplexer redisA, ConnectionMultiplexer redisB, TestDatabase db, TimeProvider relayTimeA)
    {
        A = a;
        _relayTimeA = relayTimeA;
        B = b;
        RedisA = redisA;
        RedisB = redisB;
        Db = db;
        // One reachability tracker per instance, as the app registers it.
        ReachA = new MeasureApp.Coordination.RedisReachability(redisA, TimeProvider.System, NullLogger.Instance);
        ReachB = new MeasureApp.Coordination.RedisReachability(redisB, TimeProvider.System, NullLogger.Instance);
        Options = new RelayOptions
        {
            Prefix = $"test:relay:{Guid.NewGuid():N}:",
            RenewInterval = TimeSpan.FromMilliseconds(500),
            Lease = TimeSpan.FromSeconds(3),
        };
        HostA = new LiveRelayHost(redisA, a.Hub, a.Engine, Microsoft.Extensions.Options.Options.Create(Options), relayTimeA, NullLogger<LiveRelayHost>.Instance, ReachA);
        HostB = new LiveRelayHost(redisB, b.Hub, b.Engine, Microsoft.Extensions.Options.Options.Create(Options), TimeProvider.System, NullLogger<LiveRelayHost>.Instance, ReachB);
        ClientB = new LiveRelayClient(redisB, db, b.Engine, Microsoft.Extensions.Options.Options.Create(Options), TimeProvider.System, NullLogger<LiveRelayClient>.Instance, ReachB);
    }

    public EngineHarness A { get; }
    public EngineHarness B { get; }
    public ConnectionMultiplexer RedisA { get; }
    public ConnectionMultiplexer RedisB { get; }
    public TestDatabase Db { get; }
    public RelayOptions Options { get; }
    public LiveRelayHost HostA { get; }
    public LiveRelayHost HostB { get; }
    public LiveRelayClient ClientB { get; }
    public MeasureApp.Coordination.RedisReachability ReachA { get; }
    public MeasureApp.Coordination.RedisReachability ReachB { get; }

    /// <summary>Both instances running; <paramref name="relayTimeA"/> drives A's relay loop (lease checks) when given.</summary>
    public static async Task<TwoInstances> StartAsync(TimeProvider? relayTimeA = null)
    {
        var a = await EngineHarness.StartNewAsync([SpikyDevice]);
        var b = await EngineHarness.StartNewAsync();
        var redisA = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.RedisConnectionString);
        var redisB = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.RedisConnectionString);
        var db = await TestDatabase.CreateAsync();
        var instances = new TwoInstances(a, b, redisA, redisB, db, relayTimeA ?? TimeProvider.System);
        await instances.HostA.StartAsync(CancellationToken.None);
        await instances.HostB.StartAsync(CancellationToken.None);
        return instances;
    }

    /// <summary>
    /// Starts a measurement on A and records its row as A's store does; returns once B lists it
    /// (A announces what it runs every <see cref="RelayOptions.RenewInterval"/>).
    /// </summary>
    public async Task<MeasurementInfo> StartOnAAsync(Requester owner, StartRequest? request = null)
    {
        var info = await A.StartMeasurementAsync(owner, request ?? EngineHarness.Request());
        await Db.SaveAsync(info);
        await Eventually.TrueAsync(async () =>
        {
            // A fake relay clock on A must move for A to announce.
            (_relayTimeA as FakeTimeProvider)?.Advance(TimeSpan.FromMilliseconds(100));
            return (await ClientB.ListRunningAsync(owner, CancellationToken.None)).Any(m => m.Id == info.Id);
        }, "B lists the measurement started on A");
        return info;
    }

    /// <summary>Completes once A's relay serves exactly <paramref name="count"/> remote watchers.</summary>
    public Task WhenWatchersOnAAsync(int count) => WhenWatchersAsync(HostA, count);

    public static async Task WhenWatchersAsync(LiveRelayHost host, int count)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check()
        {
            if (host.ActiveWatches == count)
            {
                reached.TrySetResult();
            }
        }
        host.WatchesChanged += Check;
        try
        {
            Check();
            await reached.Task.WaitAsync(TestTimeouts.HangGuard);
        }
        finally
        {
            host.WatchesChanged -= Check;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await HostA.StopAsync(CancellationToken.None);
        await HostB.StopAsync(CancellationToken.None);
        HostA.Dispose();
        HostB.Dispose();
        ClientB.Dispose();
        await A.DisposeAsync();
        await B.DisposeAsync();
        await RedisA.DisposeAsync();
        await RedisB.DisposeAsync();
        await Db.DisposeAsync();
    }
}
