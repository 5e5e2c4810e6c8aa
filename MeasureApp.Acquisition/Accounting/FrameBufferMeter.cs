using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using MeasureApp.Acquisition.Live;

namespace MeasureApp.Acquisition.Accounting;

/// <summary>
/// The queued-frame memory of one subscription, mirrored into its subscriber's
/// <see cref="UserMeter"/>. Lock-free: the publisher adds, the reader and the drop callback
/// subtract, and <see cref="Release"/> hands back whatever is still queued exactly once, so the
/// user's gauge returns to zero however the writes, reads and the release interleave.
/// </summary>
internal sealed class FrameBufferMeter(UserMeter meter)
{
    private const long Released = long.MinValue;
    private long _queuedBytes;

    public UserMeter Meter { get; } = meter;

    /// <summary>Bytes queued now (0 once released).</summary>
    public long QueuedBytes => Math.Max(0, Volatile.Read(ref _queuedBytes));

    public void Enqueued(LiveFrame frame) => Adjust(TrafficEstimate.MemoryBytes(frame));

    public void Dequeued(LiveFrame frame) => Adjust(-TrafficEstimate.MemoryBytes(frame));

    public void Release()
    {
        var left = Interlocked.Exchange(ref _queuedBytes, Released);
        if (left != Released)
        {
            Meter.AddBufferBytes(-left);
        }
    }

    private void Adjust(long delta)
    {
        while (true)
        {
            var current = Volatile.Read(ref _queuedBytes);
            if (current == Released)
            {
                return;
            }
            if (Interlocked.CompareExchange(ref _queuedBytes, current + delta, current) == current)
            {
                // Both sides saw the same delta; Release subtracts what the local counter holds, so
                // the order in which the user's gauge receives the two does not matter.
                Meter.AddBufferBytes(delta);
                return;
            }
        }
    }
}

/// <summary>A frame reader that tells the buffer meter about every frame taken out of the buffer.</summary>
internal sealed class MeteredFrameReader(ChannelReader<LiveFrame> inner, FrameBufferMeter buffer) : ChannelReader<LiveFrame>
{
    public override Task Completion => inner.Completion;

    public override bool CanCount => inner.CanCount;

    public override int Count => inner.Count;

    public override bool CanPeek => inner.CanPeek;

    public override bool TryRead([MaybeNullWhen(false)] out LiveFrame item)
    {
        if (!inner.TryRead(out item))
        {
            return false;
        }
        buffer.Dequeued(item);
        return true;
    }

    public override bool TryPeek([MaybeNullWhen(false)] out LiveFrame item) => inner.TryPeek(out item);

    public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => inner.WaitToReadAsync(cancellationToken);
}
