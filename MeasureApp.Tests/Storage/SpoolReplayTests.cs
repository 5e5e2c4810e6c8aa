using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Storage;

/// <summary>
/// Issue 12 #6: replaying a spool backlog must not starve the live queue, and the spool must shrink
/// as it is replayed. The database is a store whose writes wait until the test lets each one through.
/// </summary>
public sealed class SpoolReplayTests : IDisposable
{
    private const long SegmentBytes = 64 * 1024;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "measureapp-replay-tests", Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task WhileAReplayBatchWaitsForTheDatabaseLiveBlocksAreStillTakenIntoTheSpoolAndTheQueueEmpties()
    {
        var backlog = WriteLeftoverSpool(chunks: 20);
        var store = new SteppedStore();
        using var writer = NewWriter(store);
        await writer.StartAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => store.WritesStarted == 1, "the replay's first batch reaches the database and hangs there");

        var live = Guid.NewGuid();
        const int Blocks = 200;
        for (var i = 0; i < Blocks; i++)
        {
            Assert.True(writer.TryEnqueue(DurabilityTests.Block(live, i * 1000L, count: 1000, rate: 10_000, channels: 2)));
        }

        // The replay still hangs on its first batch, yet the loop takes every live block into the spool.
        await Eventually.TrueAsync(() => writer.QueuedBytes == 0 && writer.ChunksSpooled == Blocks, "live blocks are spooled while the replay waits");
        Assert.Equal(1, store.WritesStarted);
        Assert.Empty(store.Inner.Stored(live));

        store.OpenAll();
        await Eventually.TrueAsync(() => writer.SpoolPendingBytes == 0 && !Spool.ExistsIn(_directory), "backlog and live data are replayed and the spool deleted");
        Assert.Equal(backlog.Chunks.Select(c => c.Sequence), store.Inner.Stored(backlog.MeasurementId).Select(c => c.Sequence));
        var stored = store.Inner.Stored(live);
        Assert.Equal(Enumerable.Range(0, Blocks).Select(i => (long)i), stored.Select(c => c.Sequence));
        Assert.Equal(Enumerable.Range(0, Blocks).Select(i => i * 1000L), stored.Select(c => c.FirstSampleIndex));
        await writer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task TheSpoolShrinksFileByFileWhileABacklogIsReplayed()
    {
        var backlog = WriteLeftoverSpool(chunks: 40);
        var before = SpoolBytesOnDisk();
        Assert.True(Directory.GetFiles(_directory, "*.spool").Length >= 4, "the backlog spans several spool files");
        var store = new SteppedStore();
        using var writer = NewWriter(store);
        await writer.StartAsync(CancellationToken.None);

        var sizes = new List<long> { before };
        while (Spool.ExistsIn(_directory))
        {
            var done = store.WritesCompleted;
            store.Allow(1);
            await Eventually.TrueAsync(() => store.WritesCompleted > done || !Spool.ExistsIn(_directory), "one replay batch is stored");
            // The replayed file is deleted at its commit, right after the write: wait for the size to settle below the last one.
            var last = sizes[^1];
            await Eventually.TrueAsync(() => SpoolBytesOnDisk() < last || !Spool.ExistsIn(_directory), "the spool shrinks after a stored batch");
            sizes.Add(SpoolBytesOnDisk());
        }

        // It shrank step by step while records still waited, not only at the end.
        Assert.True(sizes.Count(s => s > 0 && s < before) >= 3, $"spool sizes during the replay: {string.Join(", ", sizes)}");
        Assert.Equal(backlog.Chunks.Select(c => c.Sequence), store.Inner.Stored(backlog.MeasurementId).Select(c => c.Sequence));
        Assert.Equal(MeasurementState.Stopped, store.Inner.Measurement(backlog.MeasurementId)!.State);
        await writer.StopAsync(CancellationToken.None);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private long SpoolBytesOnDisk() =>
        Directory.Exists(_directory) ? Directory.GetFiles(_directory, "*.spool").Sum(f => new FileInfo(f).Length) : 0;

    // A crash's leftover: chunks of ~8 KB in files of 64 KiB, then the measurement's final state.
    private KnownSignal WriteLeftoverSpool(int chunks)
    {
        var signal = new KnownSignal(Guid.NewGuid(), 2, [.. Enumerable.Repeat(1000, chunks)], (c, i) => c + i * 0.5f);
        using var spool = Spool.Open(_directory, SegmentBytes);
        foreach (var chunk in signal.Chunks)
        {
            spool.Append([chunk], null);
        }
        spool.Append([], KnownSignal.Info(signal.MeasurementId, 2, state: MeasurementState.Stopped, sampleCount: signal.Length));
        return signal;
    }

    private StoreWriter NewWriter(ISampleStore store) =>
        new(store, Options.Create(new AcquisitionOptions()), Options.Create(new SpoolOptions { Directory = _directory, SegmentBytes = SegmentBytes }),
            new FakeTimeProvider(), NullLogger<StoreWriter>.Instance);

    /// <summary>A database whose chunk writes each wait for a permit from the test (a slow or hanging database).</summary>
    private sealed class SteppedStore : ISampleStore
    {
        private readonly SemaphoreSlim _permits = new(0, int.MaxValue);
        private int _started;
        private int _completed;

        public SwitchableStore Inner { get; } = new();

        public int WritesStarted => Volatile.Read(ref _started);

        public int WritesCompleted => Volatile.Read(ref _completed);

        public void Allow(int writes) => _permits.Release(writes);

        public void OpenAll() => _permits.Release(int.MaxValue / 2);

        public Task CreateMeasurementAsync(MeasurementInfo info, CancellationToken cancellationToken) => Inner.CreateMeasurementAsync(info, cancellationToken);

        public Task UpdateMeasurementAsync(MeasurementInfo info, CancellationToken cancellationToken) => Inner.UpdateMeasurementAsync(info, cancellationToken);

        public Task DeleteSamplesAsync(Guid measurementId, CancellationToken cancellationToken) => Inner.DeleteSamplesAsync(measurementId, cancellationToken);

        public async Task WriteChunksAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _started);
            await _permits.WaitAsync(cancellationToken);
            await Inner.WriteChunksAsync(chunks, cancellationToken);
            Interlocked.Increment(ref _completed);
        }

        public Task<IReadOnlyList<StoredChunk>> ReadChunksAsync(Guid measurementId, long fromIndex, long toIndex, CancellationToken cancellationToken) =>
            Inner.ReadChunksAsync(measurementId, fromIndex, toIndex, cancellationToken);
    }
}
