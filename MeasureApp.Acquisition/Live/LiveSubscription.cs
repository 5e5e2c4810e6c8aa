using System.Threading.Channels;
using MeasureApp.Acquisition.Accounting;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Measurements;

namespace MeasureApp.Acquisition.Live;

/// <summary>
/// One circuit watching one measurement: decimates every block to its own view (M4 per pixel
/// column) into a bounded frame buffer. When the circuit falls behind the oldest frames are
/// dropped and counted; storage is never affected. Events are never dropped with a frame: they
/// ride along on the next one.
/// </summary>
public sealed class LiveSubscription : ILiveFeed
{
    // Bounds what a reader that never reads can pile up in carried events (events are rare: spikes).
    private const int MaxCarriedEvents = 1024;

    private readonly Channel<LiveFrame> _frames;
    private readonly List<SampleEvent> _carriedEvents = [];
    private readonly Action<LiveSubscription> _onDispose;
    private readonly FrameBufferMeter? _buffer;
    private readonly ChannelReader<LiveFrame> _reader;
    private readonly Lock _viewGate = new();
    private M4Accumulator[] _accumulators;
    private long _dropped;
    private long _samples;
    private int _disposed;

    // The accountant is optional so the hub and its tests work without one; when present, buffer
    // memory, drops and the subscription itself are charged to the SUBSCRIBER (userId), not the owner.
    internal LiveSubscription(MeasurementInfo info, string userId, LiveView view, int capacity, Action<LiveSubscription> onDispose, ResourceAccountant? accountant = null)
    {
        Info = info;
        UserId = userId;
        _onDispose = onDispose;
        _frames = Channel.CreateBounded<LiveFrame>(
            new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = true },
            OnFrameDropped);
        _accumulators = CreateAccumulators(view);
        View = view;
        if (accountant is not null)
        {
            _buffer = new FrameBufferMeter(accountant.For(userId));
            _buffer.Meter.SubscriptionOpened();
            _reader = new MeteredFrameReader(_frames.Reader, _buffer);
        }
        else
        {
            _reader = _frames.Reader;
        }
    }

    /// <summary>The measurement watched.</summary>
    public MeasurementInfo Info { get; }

    /// <summary>The subscriber's user id (for accounting).</summary>
    public string UserId { get; }

    /// <summary>Current view (pixel width and window).</summary>
    public LiveView View { get; private set; }

    /// <summary>Decimated frames, oldest first; completes when the measurement stops.</summary>
    public ChannelReader<LiveFrame> Frames => _reader;

    /// <summary>Frames dropped because the reader was too slow.</summary>
    public long DroppedFrames => Interlocked.Read(ref _dropped);

    /// <summary>Raw samples per channel seen so far.</summary>
    public long SamplesSeen => Interlocked.Read(ref _samples);

    /// <summary>Changes pixel width or window; the next block is decimated with the new column size.</summary>
    public void ChangeView(LiveView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        lock (_viewGate)
        {
            View = view;
            _accumulators = CreateAccumulators(view);
        }
    }

    internal void OnBlock(SampleBlock block)
    {
        var frame = new LiveFrame(block.ChannelCount);
        lock (_viewGate)
        {
            for (var c = 0; c < block.ChannelCount && c < _accumulators.Length; c++)
            {
                _accumulators[c].Add(block.Channel(c), block.FirstSampleIndex, block.SampleRate, frame.X[c], frame.Y[c]);
            }
            if (_carriedEvents.Count > 0)
            {
                frame.Events.AddRange(_carriedEvents);
                _carriedEvents.Clear();
            }
        }
        if (block.Events.Count > 0)
        {
            frame.Events.AddRange(block.Events);
        }
        frame.NewestSampleNs = block.TimeOfSampleNs(block.Count - 1);
        frame.SampleCount = block.Count;
        Interlocked.Add(ref _samples, block.Count);
        if (frame.PointCount > 0 || frame.Events.Count > 0)
        {
            // Counted before the write: a fast reader may take the frame out before TryWrite returns.
            _buffer?.Enqueued(frame);
            if (!_frames.Writer.TryWrite(frame))
            {
                _buffer?.Dequeued(frame);
            }
        }
    }

    internal void Complete() => _frames.Writer.TryComplete();

    // Runs on the publishing thread inside TryWrite when the buffer was full and the oldest frame went.
    private void OnFrameDropped(LiveFrame dropped)
    {
        Interlocked.Increment(ref _dropped);
        if (_buffer is not null)
        {
            _buffer.Dequeued(dropped);
            _buffer.Meter.AddDrops(1);
        }
        if (dropped.Events.Count == 0)
        {
            return;
        }
        lock (_viewGate)
        {
            _carriedEvents.AddRange(dropped.Events);
            if (_carriedEvents.Count > MaxCarriedEvents)
            {
                // The newest events matter most to someone who is watching.
                _carriedEvents.RemoveRange(0, _carriedEvents.Count - MaxCarriedEvents);
            }
        }
    }

    private M4Accumulator[] CreateAccumulators(LiveView view)
    {
        var perColumn = view.SamplesPerColumn(Info.SampleRate);
        return [.. Enumerable.Range(0, Info.Channels.Count).Select(_ => new M4Accumulator(perColumn))];
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _onDispose(this);
            _frames.Writer.TryComplete();
            if (_buffer is not null)
            {
                // Frames nobody will read are no longer the user's memory as far as accounting goes.
                _buffer.Release();
                _buffer.Meter.SubscriptionClosed();
            }
        }
    }
}
