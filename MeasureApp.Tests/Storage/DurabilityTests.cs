using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Storage;

/// <summary>
/// Issue 12's faults at the store writer: a full spool disk (a real tmpfs), a full data queue at a
/// stop, chunks at low rates, and what a stop says when nothing can be stored.
/// </summary>
public sealed class DurabilityTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "measureapp-durability-tests", Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task AStopsFlushAndFinalSaveAreStoredEvenWhenTheDataQueueIsFull()
    {
        var store = new GatedStore();
        var id = Guid.NewGuid();
        using var writer = NewWriter(store, new FakeTimeProvider(), _directory);
        await writer.StartAsync(CancellationToken.None);
        // The store hangs on the first batch, so the data queue fills up to its item limit.
        long accepted = 0;
        while (writer.TryEnqueue(Block(id, accepted, count: 1, rate: 1000)))
        {
            accepted++;
        }
        Assert.True(accepted > 100_000, $"only {accepted} blocks were queued");

        var flushed = writer.FlushAsync(id);
        var saved = writer.SaveMeasurementAsync(KnownSignal.Info(id, 1, state: MeasurementState.Stopped, sampleCount: accepted));
        store.Open();
        await Task.WhenAll(flushed, saved).WaitAsync(TimeSpan.FromSeconds(60));
        // Blocks that waited behind the hung database may have gone through the spool (its replay follows).
        await Eventually.TrueAsync(() => writer.SpoolPendingBytes == 0 && store.Inner.Measurement(id)?.State == MeasurementState.Stopped, "the final state reaches the database");

        Assert.Equal(MeasurementState.Stopped, store.Inner.Measurement(id)!.State);
        var stored = store.Inner.Stored(id);
        Assert.Equal(accepted, stored.Sum(c => (long)c.SampleCount));
        Assert.Equal(Enumerable.Range(0, stored.Count).Select(i => (long)i), stored.Select(c => c.Sequence));
        await writer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task AtOneHundredHertzAChunkIsStoredOnceAQuarterSecondOfSamplesIsIn()
    {
        var store = new SwitchableStore();
        var id = Guid.NewGuid();
        using var writer = NewWriter(store, new FakeTimeProvider(), _directory);
        await writer.StartAsync(CancellationToken.None);

        // 30 samples at 100 Hz (0.3 s) in blocks of 5, and no flush: a crash now may lose at most 250 ms.
        for (var i = 0; i < 6; i++)
        {
            Assert.True(writer.TryEnqueue(Block(id, i * 5, count: 5, rate: 100)));
        }

        await Eventually.TrueAsync(() => store.Stored(id).Count == 1, "a chunk of at most 250 ms is stored without a flush");
        var chunk = Assert.Single(store.Stored(id));
        Assert.Equal(25, chunk.SampleCount);
        Assert.True(chunk.SampleCount / 100.0 <= StoreWriter.MaxChunkSpan.TotalSeconds);
        await writer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task AFullSpoolDiskLetsGoOnceTheDatabaseIsBackAndEverythingIsStoredInOrder()
    {
        using var disk = TinyDisk.Mount(1024 * 1024);
        var time = new FakeTimeProvider();
        var store = new SwitchableStore { Down = true };
        var id = Guid.NewGuid();
        using var writer = NewWriter(store, time, disk.Path);
        await writer.StartAsync(CancellationToken.None);
        void Tick() => time.Advance(TimeSpan.FromMilliseconds(200));

        // 8 channels × 1000 samples = 32 KB per block (one chunk each at 10 kHz): 60 of them do not fit in 1 MB.
        // First a few blocks the spool takes (a batch is cut from whatever is queued, so all 60 at once could
        // be refused as one batch before any reached the disk), then the rest, which fill it.
        const int Blocks = 60;
        const int First = 5;
        for (var i = 0; i < First; i++)
        {
            Assert.True(writer.TryEnqueue(Block(id, i * 1000L, count: 1000, rate: 10_000, channels: 8)));
        }
        await Eventually.TrueAsync(() => writer.ChunksSpooled > 0, "the spool takes the first blocks while the database is down", eachRound: Tick);
        for (var i = First; i < Blocks; i++)
        {
            Assert.True(writer.TryEnqueue(Block(id, i * 1000L, count: 1000, rate: 10_000, channels: 8)));
        }
        await Eventually.TrueAsync(() => writer.Fault is not null, "the spool disk fills up", eachRound: Tick);
        Assert.Contains("spool refused", writer.Fault, StringComparison.Ordinal);
        var health = new StorageHealthCheck(writer, time);
        Assert.Equal(HealthStatus.Unhealthy, (await health.CheckHealthAsync(new HealthCheckContext())).Status);

        store.Down = false;
        await Eventually.TrueAsync(() => store.Stored(id).Count == Blocks && writer.SpoolPendingBytes == 0, "everything reaches the database once it is back", eachRound: Tick);
        Assert.False(File.Exists(writer.SpoolPath));
        Assert.Null(writer.Fault);
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(new HealthCheckContext())).Status);
        var arrivals = store.Arrivals.Select(c => c.Sequence).Distinct().ToList();
        Assert.Equal(Enumerable.Range(0, Blocks).Select(i => (long)i), arrivals);
        await writer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task WhenNeitherTheDatabaseNorTheFullSpoolDiskTakesDataTheStopReasonSaysSo()
    {
        using var disk = TinyDisk.Mount(1024 * 1024);
        var time = new FakeTimeProvider();
        var store = new SwitchableStore();
        var options = Options.Create(new AcquisitionOptions
        {
            Devices = [new DeviceOptions { Id = "sim", Seed = 5, SpikeProbability = 0 }],
            BlockMilliseconds = 10,
            StoreQueueBytes = 2_000_000,
        });
        using var writer = new StoreWriter(store, options, Options.Create(new SpoolOptions { Directory = disk.Path }), time, NullLogger<StoreWriter>.Instance);
        using var engine = new MeasurementEngine(options, [new SimulatedDriver(time, options, NullLogger<SimulatedDriver>.Instance)], new LiveHub(),
            writer, store, new InProcessLimitCoordinator(), time, NullLogger<MeasurementEngine>.Instance);
        await writer.StartAsync(CancellationToken.None);
        await engine.StartAsync(CancellationToken.None);
        var user = new Requester("disk-user", "disk@test.local", IsAdmin: false);
        var started = await engine.StartAsync(user, new UserLimits(), new StartRequest { DeviceId = "sim", Name = "full disk", Channels = 8, SampleRate = 100_000 }, CancellationToken.None);
        Assert.True(started.Succeeded, started.Error);
        store.Down = true;

        await Eventually.TrueAsync(() => engine.Find(started.Measurement!.Id, user)?.State != MeasurementState.Running, "the measurement is stopped once memory is full too",
            TimeSpan.FromSeconds(60), () => time.Advance(TimeSpan.FromMilliseconds(20)));

        store.Down = false;
        await Eventually.TrueAsync(() => store.Measurement(started.Measurement!.Id)?.State == MeasurementState.Stopped, "the stop is stored once the database is back",
            TimeSpan.FromSeconds(60), () => time.Advance(TimeSpan.FromMilliseconds(200)));
        var final = store.Measurement(started.Measurement!.Id)!;
        Assert.Equal(StopReason.Limit, final.StopReason);
        Assert.Contains("database is unreachable", final.StopDetail, StringComparison.Ordinal);
        Assert.Contains("spool refused", final.StopDetail, StringComparison.Ordinal);
        Assert.DoesNotContain("could not keep up", final.StopDetail, StringComparison.Ordinal);
        await engine.StopAsync(CancellationToken.None);
        await writer.StopAsync(CancellationToken.None);
    }

    internal static StoreWriter NewWriter(ISampleStore store, TimeProvider time, string spoolDirectory) =>
        new(store, Options.Create(new AcquisitionOptions()), Options.Create(new SpoolOptions { Directory = spoolDirectory }), time, NullLogger<StoreWriter>.Instance);

    internal static SampleBlock Block(Guid id, long first, int count, double rate, int channels = 1)
    {
        var block = SampleBlock.Rent(channels, count);
        block.MeasurementId = id;
        block.FirstSampleIndex = first;
        block.SampleRate = rate;
        block.T0Ns = (long)(first * 1e9 / rate);
        for (var i = 0; i < block.ValueCount; i++)
        {
            block.Writable[i] = i;
        }
        return block;
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    /// <summary>A store whose chunk writes wait until the test opens the gate (a database that hangs).</summary>
    private sealed class GatedStore : ISampleStore
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public SwitchableStore Inner { get; } = new();

        public void Open() => _gate.TrySetResult();

        public Task CreateMeasurementAsync(MeasurementInfo info, CancellationToken cancellationToken) => Inner.CreateMeasurementAsync(info, cancellationToken);

        public Task DeleteSamplesAsync(Guid measurementId, CancellationToken cancellationToken) => Inner.DeleteSamplesAsync(measurementId, cancellationToken);

        public async Task UpdateMeasurementAsync(MeasurementInfo info, CancellationToken cancellationToken)
        {
            await _gate.Task;
            await Inner.UpdateMeasurementAsync(info, cancellationToken);
        }

        public async Task WriteChunksAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken)
        {
            await _gate.Task;
            await Inner.WriteChunksAsync(chunks, cancellationToken);
        }

        public Task<IReadOnlyList<StoredChunk>> ReadChunksAsync(Guid measurementId, long fromIndex, long toIndex, CancellationToken cancellationToken) =>
            Inner.ReadChunksAsync(measurementId, fromIndex, toIndex, cancellationToken);
    }
}
