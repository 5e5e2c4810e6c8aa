using System.Runtime.InteropServices;
using System.Threading.Channels;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MeasureApp.Acquisition.Storage;

/// <summary>
/// Takes blocks off the sample path (never awaited there) and writes them to the store in large
/// batches of chunks of at least ~0.1 s. Chunk sequence numbers make retries idempotent.
/// </summary>
/// <remarks>
/// When the store fails, the batch goes to an append-only spool file on local disk and so does
/// everything after it (order is kept), while measurements keep running. The spool is replayed in
/// order as soon as the store answers again, then deleted; a spool left by a crash is replayed at
/// start. Memory stays bounded by <see cref="AcquisitionOptions.StoreQueueBytes"/>: if neither the
/// store nor the disk takes data, the queue fills and the engine stops measurements with a reason.
/// </remarks>
public sealed class StoreWriter : BackgroundService
{
    private const int MaxBatchChunks = 256;
    private const long MaxReplayBatchBytes = 64L * 1024 * 1024;
    private const int ReplayBatchesPerTurn = 4;
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromSeconds(5);

    private readonly ISampleStore _store;
    private readonly IOptions<AcquisitionOptions> _options;
    private readonly SpoolOptions _spoolOptions;
    private readonly TimeProvider _time;
    private readonly ILogger<StoreWriter> _logger;
    private readonly Channel<Item> _queue = Channel.CreateBounded<Item>(new BoundedChannelOptions(262_144)
    {
        // The sample path only calls TryWrite; a full queue refuses instead of waiting.
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
    });
    private readonly Dictionary<Guid, ChunkBuilder> _builders = [];
    private long _queuedBytes;
    private long _chunksWritten;
    private long _chunksSpooled;
    private long _chunksReplayed;
    private long _spoolPendingBytes;

    // Loop-only state.
    private SpoolFile? _spool;
    private DateTimeOffset _nextReplay;
    private TimeSpan _retryDelay = FirstRetry;

    /// <summary>A writer that spools to a fresh temp folder (hosts configure <see cref="SpoolOptions"/>).</summary>
    public StoreWriter(ISampleStore store, IOptions<AcquisitionOptions> options, TimeProvider time, ILogger<StoreWriter> logger)
        : this(store, options, Microsoft.Extensions.Options.Options.Create(new SpoolOptions()), time, logger)
    {
    }

    /// <summary>A writer that spools where <paramref name="spool"/> says.</summary>
    public StoreWriter(ISampleStore store, IOptions<AcquisitionOptions> options, IOptions<SpoolOptions> spool, TimeProvider time, ILogger<StoreWriter> logger)
    {
        ArgumentNullException.ThrowIfNull(spool);
        _store = store;
        _options = options;
        _spoolOptions = spool.Value;
        _time = time;
        _logger = logger;
        var directory = spool.Value.Directory is { Length: > 0 } d
            ? d
            : Path.Combine(Path.GetTempPath(), "measureapp-spool", Guid.NewGuid().ToString("N"));
        SpoolPath = Path.Combine(directory, SpoolFile.FileName);
    }

    /// <summary>Bytes of sample data waiting to be written.</summary>
    public long QueuedBytes => Interlocked.Read(ref _queuedBytes);

    /// <summary>Chunks written to the store directly since start.</summary>
    public long ChunksWritten => Interlocked.Read(ref _chunksWritten);

    /// <summary>Chunks that went to the spool because the store was unreachable.</summary>
    public long ChunksSpooled => Interlocked.Read(ref _chunksSpooled);

    /// <summary>Spooled chunks replayed into the store.</summary>
    public long ChunksReplayed => Interlocked.Read(ref _chunksReplayed);

    /// <summary>Bytes in the spool waiting for the store; 0 when nothing is spooled.</summary>
    public long SpoolPendingBytes => Interlocked.Read(ref _spoolPendingBytes);

    /// <summary>The spool file (exists only while data waits in it).</summary>
    public string SpoolPath { get; }

    /// <summary>Queues a block for storage (retains it). False when the queue is full: the caller must stop the measurement.</summary>
    internal bool TryEnqueue(SampleBlock block)
    {
        var bytes = (long)block.ValueCount * sizeof(float);
        if (Interlocked.Add(ref _queuedBytes, bytes) > _options.Value.StoreQueueBytes)
        {
            Interlocked.Add(ref _queuedBytes, -bytes);
            return false;
        }
        block.Retain();
        if (!_queue.Writer.TryWrite(new Item(block, Guid.Empty, null, null)))
        {
            Interlocked.Add(ref _queuedBytes, -bytes);
            block.Release();
            return false;
        }
        return true;
    }

    /// <summary>Writes everything queued for a measurement; completes when it is durable (in the store or the spool).</summary>
    internal Task FlushAsync(Guid measurementId) => Enqueue(new Item(null, measurementId, NewSignal(), null));

    /// <summary>
    /// Stores a measurement's metadata (state, reason, counts at stop) after its chunks; completes when
    /// it is durable. A store that is down gets it from the spool later, so the update is never lost.
    /// </summary>
    internal Task SaveMeasurementAsync(MeasurementInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        return Enqueue(new Item(null, Guid.Empty, NewSignal(), info));
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        OpenLeftoverSpool();
        var ready = new List<StoredChunk>();
        var waiting = new List<TaskCompletionSource>();
        try
        {
            while (await WaitForWorkAsync(stoppingToken))
            {
                MeasurementInfo? update = null;
                while (ready.Count < MaxBatchChunks && update is null && _queue.Reader.TryRead(out var item))
                {
                    update = Accept(item, ready, waiting);
                }
                if (ready.Count > 0)
                {
                    await PersistAsync(ready, stoppingToken);
                    ready.Clear();
                }
                if (update is not null)
                {
                    await PersistAsync(update, stoppingToken);
                }
                foreach (var w in waiting)
                {
                    w.TrySetResult();
                }
                waiting.Clear();
                if (_spool is not null && _time.GetUtcNow() >= _nextReplay)
                {
                    await ReplayAsync();
                }
            }
            if (_spool is not null)
            {
                // Shutting down: one last go; what is left stays on disk for the next start.
                await ReplayAsync();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            foreach (var w in waiting)
            {
                w.TrySetCanceled(stoppingToken);
            }
        }
        finally
        {
            _spool?.Dispose();
            _spool = null;
        }
    }

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // The engine flushes running measurements before this; closing lets the loop drain and end.
        _queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Task Enqueue(Item item)
    {
        if (!_queue.Writer.TryWrite(item))
        {
            item.Done!.SetException(new InvalidOperationException("Store queue is closed or full."));
        }
        return item.Done!.Task;
    }

    private async Task<bool> WaitForWorkAsync(CancellationToken stoppingToken)
    {
        if (_queue.Reader.Count > 0)
        {
            return true;
        }
        if (_spool is null || stoppingToken.IsCancellationRequested)
        {
            return await _queue.Reader.WaitToReadAsync(CancellationToken.None);
        }
        var due = _nextReplay - _time.GetUtcNow();
        if (due <= TimeSpan.Zero)
        {
            return true;
        }
        // Spooling: wake for new data or when the next replay attempt is due, whichever comes first.
        using var wake = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var read = _queue.Reader.WaitToReadAsync(wake.Token).AsTask();
        var timer = Task.Delay(due, _time, wake.Token);
        var first = await Task.WhenAny(read, timer);
        await wake.CancelAsync();
        // A completed channel (false) ends the loop; a timer, or a wait cut short by shutdown, goes round again.
        return first != read || !read.IsCompletedSuccessfully || read.Result;
    }

    private MeasurementInfo? Accept(Item item, List<StoredChunk> ready, List<TaskCompletionSource> waiting)
    {
        if (item.Block is { } block)
        {
            Interlocked.Add(ref _queuedBytes, -(long)block.ValueCount * sizeof(float));
            if (!_builders.TryGetValue(block.MeasurementId, out var builder))
            {
                builder = new ChunkBuilder(block.MeasurementId, MinChunkSamples(block.SampleRate));
                _builders[block.MeasurementId] = builder;
            }
            if (block.StartsRun && builder.HasData)
            {
                // A chunk is one regular run: after a gap, overrun or restart the next starts at its own time.
                ready.Add(builder.Close());
            }
            builder.Add(block);
            if (builder.IsFull)
            {
                ready.Add(builder.Close());
            }
            return null;
        }
        if (item.Update is null && _builders.Remove(item.FlushId, out var flushed) && flushed.HasData)
        {
            ready.Add(flushed.Close());
        }
        if (item.Done is not null)
        {
            waiting.Add(item.Done);
        }
        return item.Update;
    }

    private static int MinChunkSamples(double sampleRate) => (int)Math.Max(512, sampleRate / 10);

    private async Task PersistAsync(List<StoredChunk> chunks, CancellationToken stoppingToken)
    {
        while (true)
        {
            if (_spool is null)
            {
                try
                {
                    // Not cancelled by shutdown: a healthy store gets the last batches, a dead one fails fast.
                    await _store.WriteChunksAsync(chunks, CancellationToken.None);
                    Interlocked.Add(ref _chunksWritten, chunks.Count);
                    return;
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    _logger.LogWarning(ex, "Writing {Count} chunks failed; spooling to {Spool} until the database is back", chunks.Count, SpoolPath);
                    ScheduleRetry();
                }
            }
            if (TrySpool(chunks, null))
            {
                return;
            }
            await HoldAsync(stoppingToken);
        }
    }

    private async Task PersistAsync(MeasurementInfo update, CancellationToken stoppingToken)
    {
        while (true)
        {
            if (_spool is null)
            {
                try
                {
                    await _store.UpdateMeasurementAsync(update, CancellationToken.None);
                    return;
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    _logger.LogWarning(ex, "Saving measurement {Measurement} failed; spooling the update", update.Id);
                    ScheduleRetry();
                }
            }
            if (TrySpool([], update))
            {
                return;
            }
            await HoldAsync(stoppingToken);
        }
    }

    private bool TrySpool(List<StoredChunk> chunks, MeasurementInfo? update)
    {
        try
        {
            _spool ??= SpoolFile.Open(SpoolPath);
            var bytes = chunks.Sum(SpoolFile.SizeOf);
            if (_spool.Length + bytes > _spoolOptions.MaxBytes)
            {
                throw new IOException($"The spool reached its limit of {_spoolOptions.MaxBytes} bytes.");
            }
            foreach (var chunk in chunks)
            {
                _spool.Append(chunk);
            }
            if (update is not null)
            {
                _spool.Append(update);
            }
            Interlocked.Add(ref _chunksSpooled, chunks.Count);
            Interlocked.Exchange(ref _spoolPendingBytes, _spool.PendingBytes);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A record cut short by this failure is dropped as a torn tail when the file is next opened;
            // a retry may append a chunk twice, which the store's (measurement, seq) key absorbs.
            _logger.LogError(ex, "Neither the database nor the spool {Spool} takes data; holding it in memory", SpoolPath);
            return false;
        }
    }

    private async Task HoldAsync(CancellationToken stoppingToken)
    {
        // The queue keeps filling meanwhile; once full the engine stops measurements with a reason.
        await Task.Delay(_retryDelay, _time, stoppingToken);
        ScheduleRetry();
    }

    private void ScheduleRetry()
    {
        _nextReplay = _time.GetUtcNow() + _retryDelay;
        _retryDelay = TimeSpan.FromTicks(Math.Min(_retryDelay.Ticks * 2, MaxRetry.Ticks));
    }

    private void OpenLeftoverSpool()
    {
        if (!File.Exists(SpoolPath))
        {
            return;
        }
        try
        {
            var spool = SpoolFile.Open(SpoolPath);
            if (spool.DroppedTailBytes > 0)
            {
                _logger.LogWarning("Spool {Spool}: dropped a torn tail of {Bytes} bytes left by a crash", SpoolPath, spool.DroppedTailBytes);
            }
            if (!spool.HasPending)
            {
                spool.Delete();
                return;
            }
            _logger.LogWarning("Spool {Spool} holds {Bytes} bytes from a previous run; replaying them", SpoolPath, spool.PendingBytes);
            _spool = spool;
            _nextReplay = _time.GetUtcNow();
            Interlocked.Exchange(ref _spoolPendingBytes, spool.PendingBytes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogError(ex, "Spool {Spool} cannot be opened; it stays on disk untouched", SpoolPath);
        }
    }

    private async Task ReplayAsync()
    {
        var spool = _spool!;
        for (var turn = 0; turn < ReplayBatchesPerTurn && spool.HasPending; turn++)
        {
            List<SpoolRecord> records;
            long next;
            try
            {
                records = spool.ReadBatch(MaxBatchChunks, MaxReplayBatchBytes, out next);
            }
            catch (InvalidDataException ex)
            {
                // Cannot happen for records this process appended; a damaged disk is all that is left.
                _logger.LogError(ex, "Spool {Spool} is damaged at {Position}; the rest ({Bytes} bytes) cannot be replayed", SpoolPath, spool.ReadPosition, spool.PendingBytes);
                spool.TruncateAt(spool.ReadPosition);
                break;
            }
            var replayed = 0;
            try
            {
                var run = new List<StoredChunk>();
                foreach (var record in records)
                {
                    switch (record)
                    {
                        case SpooledChunk c:
                            run.Add(c.Chunk);
                            break;
                        case SpooledUpdate u:
                            await WriteRunAsync(run);
                            await _store.UpdateMeasurementAsync(u.Measurement, CancellationToken.None);
                            break;
                    }
                }
                await WriteRunAsync(run);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                _logger.LogInformation("Replaying the spool failed ({Message}); next attempt in {Delay}", ex.Message, _retryDelay);
                ScheduleRetry();
                return;
            }
            spool.Commit(next);
            Interlocked.Add(ref _chunksReplayed, replayed);
            Interlocked.Exchange(ref _spoolPendingBytes, spool.PendingBytes);
            _retryDelay = FirstRetry;
            _nextReplay = _time.GetUtcNow();

            async Task WriteRunAsync(List<StoredChunk> run)
            {
                if (run.Count > 0)
                {
                    await _store.WriteChunksAsync(run, CancellationToken.None);
                    replayed += run.Count;
                    run.Clear();
                }
            }
        }
        if (!spool.HasPending)
        {
            spool.Delete();
            _spool = null;
            Interlocked.Exchange(ref _spoolPendingBytes, 0);
            _logger.LogInformation("Spool replayed into the database and deleted ({Chunks} chunks so far)", ChunksReplayed);
        }
    }

    private readonly record struct Item(SampleBlock? Block, Guid FlushId, TaskCompletionSource? Done, MeasurementInfo? Update);

    private sealed class ChunkBuilder(Guid measurementId, int minSamples)
    {
        private readonly List<SampleBlock> _blocks = [];
        private long _nextSequence;
        private int _samples;

        public bool IsFull => _samples >= minSamples;

        public bool HasData => _blocks.Count > 0;

        public void Add(SampleBlock block)
        {
            _blocks.Add(block);
            _samples += block.Count;
        }

        public StoredChunk Close()
        {
            var first = _blocks[0];
            var channels = first.ChannelCount;
            var payload = new byte[(long)_samples * channels * sizeof(float)];
            var values = MemoryMarshal.Cast<byte, float>(payload.AsSpan());
            var min = new float[channels];
            var max = new float[channels];
            for (var c = 0; c < channels; c++)
            {
                var dest = values.Slice(c * _samples, _samples);
                var offset = 0;
                foreach (var b in _blocks)
                {
                    b.Channel(c).CopyTo(dest[offset..]);
                    offset += b.Count;
                }
                (min[c], max[c]) = M4.MinMax(dest);
            }
            var chunk = new StoredChunk
            {
                MeasurementId = measurementId,
                Sequence = _nextSequence++,
                FirstSampleIndex = first.FirstSampleIndex,
                T0Ns = first.T0Ns,
                SampleCount = _samples,
                ChannelCount = channels,
                Payload = payload,
                Min = min,
                Max = max,
            };
            foreach (var b in _blocks)
            {
                b.Release();
            }
            _blocks.Clear();
            _samples = 0;
            return chunk;
        }
    }
}
