using System.Runtime.InteropServices;
using System.Threading.Channels;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Live;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MeasureApp.Acquisition.Storage;

/// <summary>
/// Takes blocks off the sample path (never awaited there) and writes them to the store in large
/// batches of chunks of at least ~0.1 s. Chunk sequence numbers make retries idempotent.
/// </summary>
public sealed class StoreWriter(ISampleStore store, IOptions<AcquisitionOptions> options, TimeProvider time, ILogger<StoreWriter> logger) : BackgroundService
{
    private const int MaxBatchChunks = 256;
    private readonly Channel<Item> _queue = Channel.CreateBounded<Item>(new BoundedChannelOptions(262_144)
    {
        // The sample path only calls TryWrite; a full queue refuses instead of waiting.
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
    });
    private readonly Dictionary<Guid, ChunkBuilder> _builders = [];
    private long _queuedBytes;

    /// <summary>Bytes of sample data waiting to be written.</summary>
    public long QueuedBytes => Interlocked.Read(ref _queuedBytes);

    /// <summary>Chunks written since start.</summary>
    public long ChunksWritten { get; private set; }

    /// <summary>Queues a block for storage (retains it). False when the queue is full: the caller must stop the measurement.</summary>
    internal bool TryEnqueue(SampleBlock block)
    {
        var bytes = (long)block.ValueCount * sizeof(float);
        if (Interlocked.Add(ref _queuedBytes, bytes) > options.Value.StoreQueueBytes)
        {
            Interlocked.Add(ref _queuedBytes, -bytes);
            return false;
        }
        block.Retain();
        if (!_queue.Writer.TryWrite(new Item(block, Guid.Empty, null)))
        {
            Interlocked.Add(ref _queuedBytes, -bytes);
            block.Release();
            return false;
        }
        return true;
    }

    /// <summary>Writes everything queued for a measurement; completes when it is durable.</summary>
    internal Task FlushAsync(Guid measurementId)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite(new Item(null, measurementId, done)))
        {
            done.SetException(new InvalidOperationException("Store queue is closed or full."));
        }
        return done.Task;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var ready = new List<StoredChunk>();
        var waiting = new List<TaskCompletionSource>();
        try
        {
            while (await _queue.Reader.WaitToReadAsync(CancellationToken.None))
            {
                while (ready.Count < MaxBatchChunks && _queue.Reader.TryRead(out var item))
                {
                    Accept(item, ready, waiting);
                }
                if (ready.Count > 0)
                {
                    await WriteWithRetryAsync(ready, stoppingToken);
                    ready.Clear();
                }
                foreach (var w in waiting)
                {
                    w.TrySetResult();
                }
                waiting.Clear();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            foreach (var w in waiting)
            {
                w.TrySetCanceled(stoppingToken);
            }
        }
    }

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // The engine flushes running measurements before this; closing lets the loop drain and end.
        _queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    private void Accept(Item item, List<StoredChunk> ready, List<TaskCompletionSource> waiting)
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
        }
        else
        {
            if (_builders.Remove(item.FlushId, out var builder) && builder.HasData)
            {
                ready.Add(builder.Close());
            }
            if (item.Done is not null)
            {
                waiting.Add(item.Done);
            }
        }
    }

    private static int MinChunkSamples(double sampleRate) => (int)Math.Max(512, sampleRate / 10);

    private async Task WriteWithRetryAsync(List<StoredChunk> chunks, CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                await store.WriteChunksAsync(chunks, ct);
                ChunksWritten += chunks.Count;
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The store is unreachable: keep the chunks (idempotent retry) and back off.
                logger.LogWarning(ex, "Writing {Count} chunks failed; retrying in {Delay}", chunks.Count, delay);
                await Task.Delay(delay, time, ct);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    private readonly record struct Item(SampleBlock? Block, Guid FlushId, TaskCompletionSource? Done);

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
