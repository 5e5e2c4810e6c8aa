using System.Collections.Concurrent;
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
/// When the store fails, the batch goes to an append-only spool on local disk and so does
/// everything after it (order is kept), while measurements keep running. The spool is replayed in
/// order as soon as the store answers again, on a task of its own beside the loop: the loop keeps
/// taking live data (into the spool) while a backlog is written to the store, and the replay yields
/// while the live queue is above a quarter of its limit. Each spool file is deleted as soon as it is
/// replayed, so the spool shrinks as it drains; a spool left by a crash is replayed at
/// start. Memory stays bounded by <see cref="AcquisitionOptions.StoreQueueBytes"/>: if neither the
/// store nor the disk takes data, the queue fills and the engine stops measurements with a reason.
/// </remarks>
public sealed class StoreWriter : BackgroundService
{
    /// <summary>Longest stretch of samples a chunk holds, whatever the rate: what a crash can lose from the chunk being built.</summary>
    public static readonly TimeSpan MaxChunkSpan = TimeSpan.FromMilliseconds(250);

    private const int MaxBatchChunks = 256;
    private const long MaxBatchBytes = 8L * 1024 * 1024;
    private const long MaxReplayBatchBytes = 16L * 1024 * 1024;
    private static readonly TimeSpan ReplayYield = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan LastReplayBudget = TimeSpan.FromSeconds(10);
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
    // Replay-only state.
    private readonly HashSet<Guid> _replayedMeasurements = [];
    // Final states (stop) that wait in the spool: the catalog shows them until the store has them.
    private readonly ConcurrentDictionary<Guid, MeasurementInfo> _spooledFinals = new();
    // Guards creating, appending to and closing the spool: the loop appends, the replay closes it once empty.
    private readonly Lock _spoolGate = new();
    private readonly SemaphoreSlim _replayWake = new(0, 1);
    private Spool? _spool;
    private long _nextReplayTicks;
    private string? _fault;
    private long _spoolOldestTicks;
    private long _queuedBytes;
    private long _chunksWritten;
    private long _chunksSpooled;
    private long _chunksReplayed;
    private long _spoolPendingBytes;
    private long _spoolReplayedBytes;

    private long _retryDelayTicks = FirstRetry.Ticks;
    private long _lastQueueDelayTicks;

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
        SpoolDirectory = directory;
        SpoolPath = Spool.SegmentPath(directory, 0);
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

    /// <summary>The spool's first file (the spool exists only while data waits in it; later files sit beside it as store.N.spool).</summary>
    public string SpoolPath { get; }

    /// <summary>The spool's folder.</summary>
    public string SpoolDirectory { get; }

    /// <summary>Bytes the spool's files take on disk now (shrinks while a backlog is replayed); 0 when there is no spool.</summary>
    public long SpoolFileBytes => Volatile.Read(ref _spool)?.DiskBytes ?? 0;

    /// <summary>
    /// The final state of a stopped measurement whose row update still waits in the spool (the store
    /// shows it Running until the replay writes it); null otherwise.
    /// </summary>
    public MeasurementInfo? SpooledFinalState(Guid measurementId) => _spooledFinals.GetValueOrDefault(measurementId);

    private DateTimeOffset NextReplay
    {
        get => new(Interlocked.Read(ref _nextReplayTicks), TimeSpan.Zero);
        set => Interlocked.Exchange(ref _nextReplayTicks, value.UtcTicks);
    }

    private TimeSpan RetryDelay
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _retryDelayTicks));
        set => Interlocked.Exchange(ref _retryDelayTicks, value.Ticks);
    }

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
            if (_queue.Writer.TryWrite(new Item(block, Guid.Empty, null, null, 0, System.Diagnostics.Stopwatch.GetTimestamp())))
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
        using var replayStop = new CancellationTokenSource();
        var replay = Task.Run(() => ReplayLoopAsync(replayStop.Token), CancellationToken.None);
        try
        {
            while (await WaitForWorkAsync())
            {
                MeasurementInfo? update = null;
                // A batch is at most MaxBatchChunks chunks or ~MaxBatchBytes: at high rates 256 chunks would be
                // 80 MB in flight to the database, all of it lost by a crash until committed.
                var batchBytes = 0L;
                while (ready.Count < MaxBatchChunks && batchBytes < MaxBatchBytes && update is null && TryTake(out var item))
                {
                    var before = ready.Count;
                    update = Accept(item, ready, waiting);
                    for (var i = before; i < ready.Count; i++)
                    {
                        batchBytes += ready[i].Payload.Length;
                    }
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
                // The live queue was drained this round: a replay that yielded to it may go on.
                WakeReplay();
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
            await replayStop.CancelAsync();
            await replay;
            // Shutting down: one last go within a budget; what is left stays on disk for the next start.
            var start = _time.GetTimestamp();
            while (Volatile.Read(ref _spool) is { } spool && _time.GetElapsedTime(start) < LastReplayBudget && await ReplayBatchAsync(spool))
            {
            }
            Volatile.Read(ref _spool)?.Dispose();
            _spool = null;
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        base.Dispose();
        _replayWake.Dispose();
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
            if (!_control.Writer.TryWrite(new Item(null, flushId, done, update, _dataEnqueued, 0)))
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
            // The longest wait of a block in this round's batch (the first taken is the oldest).
            _lastQueueDelayTicks = Math.Max(_lastQueueDelayTicks, System.Diagnostics.Stopwatch.GetElapsedTime(item.Enqueued).Ticks);
            return true;
        }
        return false;
    }

    private async Task<bool> WaitForWorkAsync()
    {
        if (_queue.Reader.Count > 0 || _control.Reader.Count > 0)
        {
            return true;
        }
        // Wake for new data or a control item (the replay runs on its own task).
        using var wake = new CancellationTokenSource();
        var data = _queue.Reader.WaitToReadAsync(wake.Token).AsTask();
        var control = _control.Reader.WaitToReadAsync(wake.Token).AsTask();
        await Task.WhenAny(data, control);
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

    // At least ~0.1 s (and 512 samples) so chunks stay large at high rates, but never more than
    // MaxChunkSpan of samples: at 100 Hz a chunk is 25 samples, not 512 (a crash loses ≤ 250 ms of it).
    private static int MinChunkSamples(double sampleRate) =>
        (int)Math.Max(1, Math.Min(Math.Max(512, sampleRate / 10), Math.Ceiling(sampleRate * MaxChunkSpan.TotalSeconds)));

    // How long the oldest block of this batch waited in the queue (then reset for the next batch): real
    // time on purpose (it measures how far the database is behind the data, which a fake clock does not see).
    private TimeSpan QueueDelay() => TimeSpan.FromTicks(Interlocked.Exchange(ref _lastQueueDelayTicks, 0));

    private async Task PersistAsync(List<StoredChunk> chunks, CancellationToken stoppingToken)
    {
        var delay = QueueDelay();
        var overflow = delay > _spoolOptions.OverflowAfter;
        while (true)
        {
            if (Volatile.Read(ref _spool) is null && overflow)
            {
                // The database is slower than the data: blocks wait in memory, where a crash would lose
                // them. The fsync'd spool takes them at disk speed and the replay feeds the database
                // behind it, so what a crash can lose stays bounded by time.
                _logger.LogWarning("Blocks waited {Delay} ms for the database; spooling to {Spool} until it catches up", (long)delay.TotalMilliseconds, SpoolDirectory);
            }
            else if (Volatile.Read(ref _spool) is null)
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
                    _logger.LogWarning(ex, "Writing {Count} chunks failed; spooling to {Spool} until the database is back", chunks.Count, SpoolDirectory);
                    _storeError = Describe(ex);
                    ScheduleRetry();
                }
            }
            if (TrySpool(chunks, null))
            {
                return;
            }
            // The spool refused (disk full): a database that is up gets the batch directly after all.
            overflow = false;
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
            if (Volatile.Read(ref _spool) is null)
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
            lock (_spoolGate)
            {
                var spool = _spool ??= Spool.Open(SpoolDirectory, _spoolOptions.SegmentBytes);
                var bytes = chunks.Sum(SpoolFile.SizeOf);
                if (spool.DiskBytes + bytes > _spoolOptions.MaxBytes)
                {
                    throw new IOException($"The spool reached its limit of {_spoolOptions.MaxBytes} bytes.");
                }
                if (update is { State: MeasurementState.Stopped })
                {
                    // Shown before the append completes, so the catalog never answers Running in between.
                    _spooledFinals[update.Id] = update;
                }
                // Acknowledged means on disk: one fdatasync per batch (not per block), so a power cut
                // loses nothing that the writer reported durable. See the README's durability section.
                spool.Append(chunks, update);
                Interlocked.CompareExchange(ref _spoolOldestTicks, _time.GetUtcNow().UtcTicks, 0);
                Interlocked.Add(ref _chunksSpooled, chunks.Count);
                Interlocked.Exchange(ref _spoolPendingBytes, spool.PendingBytes);
            }
            Volatile.Write(ref _fault, null);
            WakeReplay();
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            if (update is not null)
            {
                _spooledFinals.TryRemove(update.Id, out _);
            }
            // A record cut short by this failure is dropped as a torn tail when the file is next opened;
            // a retry may append a chunk twice, which the store's (measurement, seq) key absorbs.
            _logger.LogError(ex, "Neither the database nor the spool {Spool} takes data; holding it in memory", SpoolDirectory);
            Volatile.Write(ref _fault, $"{_storeError ?? "the database is unreachable"} and the spool refused data ({ex.Message})");
            return false;
        }
    }

    private async Task HoldAsync(CancellationToken stoppingToken)
    {
        // The queue keeps filling meanwhile; once full the engine stops measurements with a reason.
        // The spool refused (disk full, limit reached): the database may be back. The replay frees the
        // spool file by file; once it is empty the next round writes to the database directly again.
        WakeReplay();
        await Task.Delay(RetryDelay, _time, stoppingToken);
    }

    private void ScheduleRetry()
    {
        var delay = RetryDelay;
        NextReplay = _time.GetUtcNow() + delay;
        RetryDelay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetry.Ticks));
    }

    private void WakeReplay()
    {
        // Already woken is the common case while a spool exists (every round of the loop wakes it): checked
        // first, so the release below does not throw SemaphoreFullException at the loop's rate (a 500-tab load
        // run threw 170 a second).
        if (Volatile.Read(ref _spool) is null || _replayWake.CurrentCount > 0)
        {
            return;
        }
        try
        {
            _replayWake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already woken.
        }
        catch (ObjectDisposedException)
        {
            // Shut down.
        }
    }

    private void OpenLeftoverSpool()
    {
        if (!Spool.ExistsIn(SpoolDirectory))
        {
            return;
        }
        try
        {
            var spool = Spool.Open(SpoolDirectory, _spoolOptions.SegmentBytes);
            if (spool.DroppedTailBytes > 0)
            {
                _logger.LogWarning("Spool {Spool}: dropped a torn tail of {Bytes} bytes left by a crash", SpoolDirectory, spool.DroppedTailBytes);
            }
            if (!spool.HasPending)
            {
                spool.Delete();
                return;
            }
            _logger.LogWarning("Spool {Spool} holds {Bytes} bytes from a previous run; replaying them", SpoolDirectory, spool.PendingBytes);
            _spool = spool;
            NextReplay = _time.GetUtcNow();
            Interlocked.Exchange(ref _spoolPendingBytes, spool.PendingBytes);
            Interlocked.Exchange(ref _spoolOldestTicks, new DateTimeOffset(File.GetLastWriteTimeUtc(SpoolPath)).UtcTicks);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogError(ex, "Spool {Spool} cannot be opened; it stays on disk untouched", SpoolDirectory);
        }
    }

    // The replay, beside the loop: one bounded batch at a time while a spool exists and its retry is
    // due; it yields to the live queue while that is above a quarter of its limit (unless data is
    // stuck, when the replay is what frees the spool).
    private async Task ReplayLoopAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            TimeSpan? due = null;
            if (Volatile.Read(ref _spool) is { } spool)
            {
                due = NextReplay - _time.GetUtcNow();
                if (due <= TimeSpan.Zero)
                {
                    if (QueuedBytes <= _options.Value.StoreQueueBytes / 4 || Fault is not null)
                    {
                        try
                        {
                            await ReplayBatchAsync(spool);
                        }
                        catch (Exception ex) when (ex is not OutOfMemoryException)
                        {
                            // A bug must not end the replay for good: log it and try again later.
                            _logger.LogError(ex, "Spool replay failed unexpectedly; next attempt in {Delay}", RetryDelay);
                            ScheduleRetry();
                        }
                        continue;
                    }
                    // The loop wakes the replay after each round; the slice is the backstop.
                    due = ReplayYield;
                }
            }
            await WaitForReplayWakeAsync(due, stop);
        }
    }

    private async Task WaitForReplayWakeAsync(TimeSpan? due, CancellationToken stop)
    {
        using var wake = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var woken = _replayWake.WaitAsync(wake.Token);
        Task[] waits = due is { } d ? [woken, Task.Delay(d, _time, wake.Token)] : [woken];
        await Task.WhenAny(waits);
        await wake.CancelAsync();
        try
        {
            await woken;
        }
        catch (OperationCanceledException)
        {
            // Timed out or stopping.
        }
    }

    // One replay batch; true when it stored something and more is waiting.
    private async Task<bool> ReplayBatchAsync(Spool spool)
    {
        List<SpoolRecord> records;
        SpoolPosition next;
        try
        {
            records = spool.ReadBatch(MaxBatchChunks, MaxReplayBatchBytes, out next);
        }
        catch (InvalidDataException ex)
        {
            // Cannot happen for records this process appended; a damaged disk is all that is left.
            lock (_spoolGate)
            {
                var where = spool.DescribeReadPosition();
                var dropped = spool.DropFrom();
                _logger.LogError(ex, "Spool {Spool} is damaged at {Position}; the rest of that file ({Bytes} bytes) cannot be replayed", SpoolDirectory, where, dropped);
            }
            return await FinishIfEmptyAsync(spool);
        }
        catch (IOException ex)
        {
            _logger.LogError(ex, "Reading the spool {Spool} failed; next attempt in {Delay}", SpoolDirectory, RetryDelay);
            ScheduleRetry();
            return false;
        }
        var replayed = 0;
        var finals = new List<Guid>();
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
                        finals.Add(u.Measurement.Id);
                        break;
                }
            }
            await WriteRunAsync(run);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _logger.LogInformation("Replaying the spool failed ({Message}); next attempt in {Delay}", ex.Message, RetryDelay);
            _storeError = Describe(ex);
            ScheduleRetry();
            return false;
        }
        var before = spool.PendingBytes;
        spool.Commit(next);
        Interlocked.Add(ref _spoolReplayedBytes, before - spool.PendingBytes);
        Interlocked.Add(ref _chunksReplayed, replayed);
        Interlocked.Exchange(ref _spoolPendingBytes, spool.PendingBytes);
        foreach (var id in finals)
        {
            // Stored now; the row answers for it again. (A later stop of the same id cannot exist.)
            _spooledFinals.TryRemove(id, out _);
        }
        RetryDelay = FirstRetry;
        NextReplay = _time.GetUtcNow();
        return await FinishIfEmptyAsync(spool);

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

    // Closes the spool once everything in it is stored (under the gate, so no append slips in between);
    // true while more is waiting.
    private async Task<bool> FinishIfEmptyAsync(Spool spool)
    {
        lock (_spoolGate)
        {
            if (spool.HasPending)
            {
                return true;
            }
            spool.Delete();
            Volatile.Write(ref _spool, null);
            Interlocked.Exchange(ref _spoolOldestTicks, 0);
            Interlocked.Exchange(ref _spoolPendingBytes, 0);
        }
        _logger.LogInformation("Spool replayed into the database and deleted ({Chunks} chunks so far)", ChunksReplayed);
        await SettleAsync();
        return false;
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

    private readonly record struct Item(SampleBlock? Block, Guid FlushId, TaskCompletionSource? Done, MeasurementInfo? Update, long Ticket, long Enqueued);

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
