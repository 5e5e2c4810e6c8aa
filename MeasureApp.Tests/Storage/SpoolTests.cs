using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Storage;

/// <summary>The spool file and the store writer's outage path, with fake time and a store that can be switched off.</summary>
public sealed class SpoolTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "measureapp-spool-tests", Guid.NewGuid().ToString("N"));

    private string SpoolPath => Path.Combine(_directory, SpoolFile.FileName);

    [Fact]
    public void TornSpoolTailIsDroppedAndTheRecordsBeforeItSurvive()
    {
        var signal = new KnownSignal(Guid.NewGuid(), 2, [700, 800, 900], (c, i) => c * 10 + i);
        var update = KnownSignal.Info(signal.MeasurementId, 2, state: MeasurementState.Stopped, sampleCount: signal.Length);
        long intact;
        using (var spool = SpoolFile.Open(SpoolPath))
        {
            spool.Append(signal.Chunks[0]);
            spool.Append(signal.Chunks[1]);
            spool.Append(update);
            intact = spool.Length;
            spool.Append(signal.Chunks[2]);
        }
        // A crash in the middle of the last write.
        using (var file = new FileStream(SpoolPath, FileMode.Open))
        {
            file.SetLength(intact + SpoolFile.SizeOf(signal.Chunks[2]) / 2);
        }

        using var reopened = SpoolFile.Open(SpoolPath);
        var records = reopened.ReadAll();

        Assert.Equal(SpoolFile.SizeOf(signal.Chunks[2]) / 2, reopened.DroppedTailBytes);
        Assert.Equal(intact, new FileInfo(SpoolPath).Length);
        Assert.Equal(3, records.Count);
        AssertSameChunk(signal.Chunks[0], Assert.IsType<SpooledChunk>(records[0]).Chunk);
        AssertSameChunk(signal.Chunks[1], Assert.IsType<SpooledChunk>(records[1]).Chunk);
        var spooled = Assert.IsType<SpooledUpdate>(records[2]).Measurement;
        Assert.Equal(update with { Channels = [], Faults = spooled.Faults }, spooled with { Channels = [] });
        Assert.Equal(update.Faults, spooled.Faults);
        Assert.Equal(update.Channels, Assert.IsType<SpooledUpdate>(records[2]).Measurement.Channels);

        reopened.Append(signal.Chunks[2]);
        AssertSameChunk(signal.Chunks[2], Assert.IsType<SpooledChunk>(reopened.ReadAll()[3]).Chunk);
    }

    [Fact]
    public void SpoolRecordWithAWrongChecksumEndsTheSpool()
    {
        var signal = new KnownSignal(Guid.NewGuid(), 1, [600, 600, 600], (c, i) => i);
        long second;
        using (var spool = SpoolFile.Open(SpoolPath))
        {
            spool.Append(signal.Chunks[0]);
            second = spool.Length;
            spool.Append(signal.Chunks[1]);
            spool.Append(signal.Chunks[2]);
        }
        using (var file = new FileStream(SpoolPath, FileMode.Open))
        {
            file.Position = second + 200;
            var b = file.ReadByte();
            file.Position = second + 200;
            file.WriteByte((byte)(b ^ 0x40));
        }

        using var reopened = SpoolFile.Open(SpoolPath);

        var only = Assert.Single(reopened.ReadAll());
        AssertSameChunk(signal.Chunks[0], Assert.IsType<SpooledChunk>(only).Chunk);
        Assert.Equal(second, reopened.Length);
    }

    [Fact]
    public async Task WhileTheStoreIsDownChunksGoToTheSpoolTheMeasurementKeepsRunningAndEverythingIsReplayedInOrder()
    {
        var time = new FakeTimeProvider();
        var store = new SwitchableStore();
        var options = Options.Create(new AcquisitionOptions
        {
            Devices = [new DeviceOptions { Id = "sim", Seed = 3, SpikeProbability = 0 }],
            BlockMilliseconds = 5,
        });
        using var writer = new StoreWriter(store, options, Options.Create(new SpoolOptions { Directory = _directory }), time, NullLogger<StoreWriter>.Instance);
        using var engine = new MeasurementEngine(options, [new SimulatedDriver(time, options, NullLogger<SimulatedDriver>.Instance)], new LiveHub(),
            writer, store, new InProcessLimitCoordinator(), time, NullLogger<MeasurementEngine>.Instance);
        await writer.StartAsync(CancellationToken.None);
        await engine.StartAsync(CancellationToken.None);
        var user = new Requester("spool-user", "spool@test.local", IsAdmin: false);
        var started = await engine.StartAsync(user, new UserLimits(), new StartRequest { DeviceId = "sim", Name = "outage", Channels = 2, SampleRate = 10_000 }, CancellationToken.None);
        var id = started.Measurement!.Id;
        void Tick() => time.Advance(TimeSpan.FromMilliseconds(20));

        await Eventually.TrueAsync(() => writer.ChunksWritten >= 3, "chunks written while the store is up", eachRound: Tick);
        store.Down = true;
        await Eventually.TrueAsync(() => writer.ChunksSpooled >= 20, "chunks spooled while the store is down", eachRound: Tick);
        var during = engine.Find(id, user)!;
        await Eventually.TrueAsync(() => engine.Find(id, user)!.SampleCount > during.SampleCount + 20_000, "acquisition going on during the outage", eachRound: Tick);
        Assert.Equal(MeasurementState.Running, engine.Find(id, user)!.State);
        Assert.True(File.Exists(writer.SpoolPath));

        // Stopped while the store is still down: the final metadata must wait in the spool too.
        Assert.True(await engine.StopAsync(id, user, CancellationToken.None));
        Assert.NotEqual(MeasurementState.Stopped, store.Measurement(id)!.State);
        Assert.True(writer.SpoolPendingBytes > 0);
        store.Down = false;
        await Eventually.TrueAsync(() => writer.SpoolPendingBytes == 0 && !File.Exists(writer.SpoolPath), "spool replayed and deleted", eachRound: Tick);

        var stored = store.Stored(id);
        Assert.Equal(Enumerable.Range(0, stored.Count).Select(i => (long)i), stored.Select(c => c.Sequence));
        for (var i = 1; i < stored.Count; i++)
        {
            Assert.Equal(stored[i - 1].FirstSampleIndex + stored[i - 1].SampleCount, stored[i].FirstSampleIndex);
        }
        var arrivals = store.Arrivals.Where(c => c.MeasurementId == id).Select(c => c.Sequence).ToList();
        Assert.Equal(stored.Select(c => c.Sequence), arrivals);
        var final = store.Measurement(id)!;
        Assert.Equal(MeasurementState.Stopped, final.State);
        Assert.Equal(StopReason.User, final.StopReason);
        Assert.Equal(stored.Sum(c => (long)c.SampleCount), final.SampleCount);
        Assert.Equal(writer.ChunksSpooled, writer.ChunksReplayed);

        await engine.StopAsync(CancellationToken.None);
        await writer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task SpoolLeftByACrashIsReplayedAtStartAndThenDeleted()
    {
        var signal = new KnownSignal(Guid.NewGuid(), 3, [.. Enumerable.Repeat(1000, 10)], (c, i) => MathF.Cos(i + c));
        var update = KnownSignal.Info(signal.MeasurementId, 3, state: MeasurementState.Stopped, sampleCount: signal.Length);
        using (var spool = SpoolFile.Open(SpoolPath))
        {
            foreach (var chunk in signal.Chunks)
            {
                spool.Append(chunk);
            }
            spool.Append(update);
        }
        await File.AppendAllTextAsync(SpoolPath, "half a record");
        var store = new SwitchableStore();
        var options = Options.Create(new AcquisitionOptions { Devices = [new DeviceOptions { Id = "sim" }] });
        using var writer = new StoreWriter(store, options, Options.Create(new SpoolOptions { Directory = _directory }), new FakeTimeProvider(), NullLogger<StoreWriter>.Instance);

        await writer.StartAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => !File.Exists(SpoolPath), "leftover spool replayed and deleted");

        var stored = store.Stored(signal.MeasurementId);
        Assert.Equal(signal.Chunks.Count, stored.Count);
        for (var i = 0; i < stored.Count; i++)
        {
            AssertSameChunk(signal.Chunks[i], stored[i]);
        }
        Assert.Equal(signal.Length, store.Measurement(signal.MeasurementId)!.SampleCount);
        Assert.Equal(MeasurementState.Stopped, store.Measurement(signal.MeasurementId)!.State);
        await writer.StopAsync(CancellationToken.None);
    }

    private static void AssertSameChunk(StoredChunk expected, StoredChunk actual)
    {
        Assert.Equal(expected.MeasurementId, actual.MeasurementId);
        Assert.Equal(expected.Sequence, actual.Sequence);
        Assert.Equal(expected.FirstSampleIndex, actual.FirstSampleIndex);
        Assert.Equal(expected.T0Ns, actual.T0Ns);
        Assert.Equal(expected.SampleCount, actual.SampleCount);
        Assert.Equal(expected.ChannelCount, actual.ChannelCount);
        Assert.Equal(expected.Min, actual.Min);
        Assert.Equal(expected.Max, actual.Max);
        Assert.Equal(expected.Payload, actual.Payload);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
