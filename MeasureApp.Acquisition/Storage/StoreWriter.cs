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
    /// <summary>Longest stretch of samples a chunk holds, whatever the rate: what a crash can lose from the chunk being built.</summary>
    public static readonly TimeSpan MaxChunkSpan = TimeSpan.FromMilliseconds(250);

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
        // Nobody calls WriteAsync, so nothing ever waits: with Wait, TryWrite answers false when the
        // queue is full (DropWrite would answer true and drop the block). The sample path then stops
        // the measurement with a reason.
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
    });

    // Flushes and final saves travel in their own unbounded lane (a handful per stop), so a full data
    // queue can never refuse them. Each carries the number of data items queued before it (its
    // ticket) and is handled once the loop has taken that many: the blocks queued before a flush are
    // still in its chunk.
    // (Not SingleReader: that variant cannot peek.)
    private readonly Channel<Item> _control = Channel.CreateUnbounded<Item>();
    private readonly Lock _enqueueLock = new();
    private long _dataEnqueued;
    private long _dataTaken;
    private readonly Dictionary<Guid, ChunkBuilder> _builders = [];
    private readonly HashSet<Guid> _replayedMeasurements = [];
    private string? _fault;
    private long _spoolOldestTicks;
    private long _queuedBytes;
    private long _chunksWritten;
    private long _chunksSpooled;
    private long _chunksReplayed;
    private long _spoolPendingBytes;
    private long _spoolReplayedBytes;

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

    /// <summary>Spool bytes replayed into the store since start (its rate is the replay rate).</summary>
    public long SpoolReplayedBytes => Interlocked.Read(ref _spoolReplayedBytes);

    /// <summary>Bytes in the spool waiting for the store; 0 when nothing is spooled.</summary>
    public long SpoolPendingBytes => Interlocked.Read(ref _spoolPendingBytes);

    /// <summary>When the oldest record still waiting in the spool was written; null when nothing is spooled.</summary>
    public DateTimeOffset? SpoolOldest => Interlocked.Read(ref _spoolOldestTicks) is var t and > 0 ? new DateTimeOffset(t, TimeSpan.Zero) : null;

    /// <summary>
    /// Why data is not reaching the store or the spool right now (database down and spool disk full,
    /// database locked, ...); null while the store or the spool takes data. Names the cause in a stop reason.
    /// </summary>
    public string? Fault => Volatile.Read(ref _fault);

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
        lock (_enqueueLock)
        {
            if (_queue.Writer.TryWrite(new Item(block, Guid.Empty, null, null, 0)))
            {
                _dataEnqueued++;
                return true;
            }
        }
        Interlocked.Add(ref _queuedBytes, -bytes);
        block.Release();
        return false;
    }

    /// <summary>Writes everything queued for a measurement; completes when it is durable (in the store or the spool).</summary>
    internal Task FlushAsync(Guid measurementId) => Enqueue(measurementId, null);

    /// <summary>
    /// Stores a measurement's metadata (state, reason, counts at stop) after its chunks; completes when
    /// it is durable. A store that is down gets it from the spool later, so the update is never lost.
    /// </summary>
    internal Task SaveMeasurementAsync(MeasurementInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        return Enqueue(Guid.Empty, info);
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
                while (ready.Count < MaxBatchChunks && update is null && TryTake(out var item))
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
        lock (_enqueueLock)
        {
            _control.Writer.TryComplete();
            _queue.Writer.TryComplete();
        }
        await base.StopAsync(cancellationToken);
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Task Enqueue(Guid flushId, MeasurementInfo? update)
    {
        var done = NewSignal();
        lock (_enqueueLock)
        {
            // Unbounded: refuses only after shutdown closed it.
            if (!_control.Writer.TryWrite(new Item(null, flushId, done, update, _dataEnqueued)))
            {
                done.SetException(new InvalidOperationException("The store writer has shut down."));
            }
        }
        return done.Task;
    }

    // A control item goes first once every data item queued before it was taken; data otherwise.
    private bool TryTake(out Item item)
    {
        if (_control.Reader.TryPeek(out item) && item.Ticket <= _dataTaken)
        {
            return _control.Reader.TryRead(out item);
        }
        if (_queue.Reader.TryRead(out item))
        {
            _dataTaken++;
            return true;
        }
        return false;
    }

    private async Task<bool> WaitForWorkAsync(CancellationToken stoppingToken)
    {
        if (_queue.Reader.Count > 0 || _control.Reader.Count > 0)
        {
            return true;
        }
        TimeSpan? due = null;
        if (_spool is not null && !stoppingToken.IsCancellationRequested)
        {
            due = _nextReplay - _time.GetUtcNow();
            if (due <= TimeSpan.Zero)
            {
                return true;
            }
        }
        // Wake for new data, a control item, or (spooling) when the next replay attempt is due.
        using var wake = new CancellationTokenSource();
        var data = _queue.Reader.WaitToReadAsync(wake.Token).AsTask();
        var control = _control.Reader.WaitToReadAsync(wake.Token).AsTask();
        Task[] waits = due is { } d ? [data, control, Task.Delay(d, _time, stoppingToken)] : [data, control];
        await Task.WhenAny(waits);
        await wake.CancelAsync();
        // Both lanes closed and drained end the loop; anything else goes round again.
        return !(_queue.Reader.Completion.IsCompleted && _control.Reader.Completion.IsCompleted);
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

    // At least ~0.1 s (and 512 samples) so chunks stay large at high rates, but never more than
    // MaxChunkSpan of samples: at 100 Hz a chunk is 25 samples, not 512 (a crash loses ≤ 250 ms of it).
    private static int MinChunkSamples(double sampleRate) =>
        (int)Math.Max(1, Math.Min(Math.Max(512, sampleRate / 10), Math.Ceiling(sampleRate * MaxChunkSpan.TotalSeconds)));

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
                    Volatile.Write(ref _fault, null);
                    return;
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    _logger.LogWarning(ex, "Writing {Count} chunks failed; spooling to {Spool} until the database is back", chunks.Count, SpoolPath);
                    _storeError = Describe(ex);
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

    private string? _storeError;

    // What the operator reads in a stop reason: the cause, not "could not keep up".
    private static string Describe(Exception ex)
    {
        var message = ex.GetBaseException().Message;
        return message.Contains("locked", StringComparison.OrdinalIgnoreCase) || message.Contains("busy", StringComparison.OrdinalIgnoreCase)
            ? $"the database is locked ({message})"
            : $"the database is unreachable ({message})";
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
                    _storeError = Describe(ex);
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
            // Acknowledged means on disk: one fdatasync per batch (not per block), so a power cut
            // loses nothing that the writer reported durable. See the README's durability section.
            _spool.FlushToDisk();
            Interlocked.CompareExchange(ref _spoolOldestTicks, _time.GetUtcNow().UtcTicks, 0);
            Interlocked.Add(ref _chunksSpooled, chunks.Count);
            Interlocked.Exchange(ref _spoolPendingBytes, _spool.PendingBytes);
            Volatile.Write(ref _fault, null);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A record cut short by this failure is dropped as a torn tail when the file is next opened;
            // a retry may append a chunk twice, which the store's (measurement, seq) key absorbs.
            _logger.LogError(ex, "Neither the database nor the spool {Spool} takes data; holding it in memory", SpoolPath);
            Volatile.Write(ref _fault, $"{_storeError ?? "the database is unreachable"} and the spool refused data ({ex.Message})");
            return false;
        }
    }

    private async Task HoldAsync(CancellationToken stoppingToken)
    {
        // The queue keeps filling meanwhile; once full the engine stops measurements with a reason.
        await Task.Delay(_retryDelay, _time, stoppingToken);
        ScheduleRetry();
        // The spool refused (disk full, limit reached): the database may be back. Replaying frees the
        // spool; once it is empty the next round writes to the database directly again.
        while (_spool is not null && await ReplayAsync())
        {
        }
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
            Interlocked.Exchange(ref _spoolOldestTicks, new DateTimeOffset(File.GetLastWriteTimeUtc(SpoolPath)).UtcTicks);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogError(ex, "Spool {Spool} cannot be opened; it stays on disk untouched", SpoolPath);
        }
    }

    // One replay turn; true when it stored something and more is waiting.
    private async Task<bool> ReplayAsync()
    {
        var spool = _spool!;
        var progressed = false;
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
                            _replayedMeasurements.Add(c.Chunk.MeasurementId);
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
                _storeError = Describe(ex);
                ScheduleRetry();
                return false;
            }
            progressed = true;
            Interlocked.Add(ref _spoolReplayedBytes, next - spool.ReadPosition);
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
            Interlocked.Exchange(ref _spoolOldestTicks, 0);
            Interlocked.Exchange(ref _spoolPendingBytes, 0);
            _logger.LogInformation("Spool replayed into the database and deleted ({Chunks} chunks so far)", ChunksReplayed);
            await SettleAsync();
            return false;
        }
        return progressed;
    }

    // A row marked stopped while its chunks waited in the spool (a crash's orphan sweep) counted
    // only what was stored then: recount it now that everything is in.
    private async Task SettleAsync()
    {
        try
        {
            await _store.SettleSampleCountsAsync([.. _replayedMeasurements], CancellationToken.None);
            _replayedMeasurements.Clear();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _logger.LogWarning(ex, "Recounting {Count} measurement(s) after the spool replay failed; the next replay tries again", _replayedMeasurements.Count);
        }
    }

    private readonly record struct Item(SampleBlock? Block, Guid FlushId, TaskCompletionSource? Done, MeasurementInfo? Update, long Ticket);

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
