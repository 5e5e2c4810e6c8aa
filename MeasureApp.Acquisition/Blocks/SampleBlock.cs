using System.Buffers;

namespace MeasureApp.Acquisition.Blocks;

/// <summary>
/// A run of regularly sampled values of one measurement: channel-major float32 (struct of arrays),
/// so each channel is one contiguous span for SIMD kernels. Immutable once published; the value
/// buffer is pooled and returned when the last holder calls <see cref="Release"/>.
/// </summary>
public sealed class SampleBlock
{
    private float[] _values;
    private int _refCount = 1;

    private SampleBlock(float[] values, int channelCount, int count)
    {
        _values = values;
        ChannelCount = channelCount;
        Count = count;
    }

    /// <summary>Measurement this block belongs to (stamped by the measurement when published).</summary>
    public Guid MeasurementId { get; internal set; }

    /// <summary>Block sequence number within the measurement, from 0, without gaps.</summary>
    public long Sequence { get; internal set; }

    /// <summary>Index of the first sample of this block within the measurement.</summary>
    public long FirstSampleIndex { get; internal set; }

    /// <summary>Time of the first sample, nanoseconds since the Unix epoch (UTC).</summary>
    public long T0Ns { get; internal set; }

    /// <summary>Samples per second per channel.</summary>
    public double SampleRate { get; internal set; }

    /// <summary>Number of channels (1–8).</summary>
    public int ChannelCount { get; }

    /// <summary>Samples per channel.</summary>
    public int Count { get; }

    /// <summary>Events (threshold crossings, injected events) that occurred in this block.</summary>
    public IReadOnlyList<SampleEvent> Events { get; internal set; } = [];

    /// <summary>Total number of values (channels × samples).</summary>
    public int ValueCount => ChannelCount * Count;

    /// <summary>Rents a block whose values the producer fills through <see cref="Writable"/> before publishing.</summary>
    public static SampleBlock Rent(int channelCount, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channelCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(channelCount, MeasurementLimits.MaxChannels);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        return new SampleBlock(ArrayPool<float>.Shared.Rent(channelCount * count), channelCount, count);
    }

    /// <summary>The values of one channel.</summary>
    public ReadOnlySpan<float> Channel(int channel)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(channel);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(channel, ChannelCount);
        return Values.Slice(channel * Count, Count);
    }

    /// <summary>All values, channel-major.</summary>
    public ReadOnlySpan<float> Values => _values.AsSpan(0, ValueCount);

    /// <summary>Writable view for the producer; only valid before the block is published.</summary>
    internal Span<float> Writable => _values.AsSpan(0, ValueCount);

    internal Span<float> WritableChannel(int channel) => _values.AsSpan(channel * Count, Count);

    /// <summary>
    /// True when this block does not continue the previous one in time (first block, or after a gap,
    /// overrun, restart or a time stamp off the regular grid): <see cref="T0Ns"/> is then its own first
    /// sample's time stamp, and the stored data starts a new chunk here. Set by the driver for
    /// discontinuities it knows of; the measurement sets it for any block whose time stamp is more than
    /// half a sample period away from where the previous block's run predicts it.
    /// </summary>
    public bool StartsRun { get; internal set; }

    /// <summary>Time of sample <paramref name="index"/> of this block in ns since the epoch (see <see cref="SampleTime"/>).</summary>
    public long TimeOfSampleNs(int index) => SampleTime.TimeOfNs(T0Ns, FirstSampleIndex, FirstSampleIndex + index, SampleRate);

    /// <summary>Time just after the last sample (start of the next block).</summary>
    public long EndNs => TimeOfSampleNs(Count);

    /// <summary>A new block with the first <paramref name="count"/> samples of this one (and their events), for a run that ends inside it.</summary>
    internal SampleBlock Head(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Count);
        var head = Rent(ChannelCount, count);
        for (var c = 0; c < ChannelCount; c++)
        {
            Channel(c)[..count].CopyTo(head.WritableChannel(c));
        }
        head.T0Ns = T0Ns;
        head.SampleRate = SampleRate;
        head.FirstSampleIndex = FirstSampleIndex;
        head.StartsRun = StartsRun;
        head.Events = [.. Events.Where(e => e.SampleIndex - FirstSampleIndex < count)];
        return head;
    }

    /// <summary>Keeps the block alive beyond the call that handed it out; pair with <see cref="Release"/>.</summary>
    public SampleBlock Retain()
    {
        if (Interlocked.Increment(ref _refCount) <= 1)
        {
            throw new InvalidOperationException("The block was already returned to the pool.");
        }
        return this;
    }

    /// <summary>Gives up one hold; the buffer returns to the pool with the last one.</summary>
    public void Release()
    {
        var left = Interlocked.Decrement(ref _refCount);
        if (left == 0)
        {
            var values = Interlocked.Exchange(ref _values, []);
            if (values.Length > 0)
            {
                ArrayPool<float>.Shared.Return(values);
            }
        }
        else if (left < 0)
        {
            throw new InvalidOperationException("SampleBlock released more often than retained.");
        }
    }
}

/// <summary>Something noteworthy at one sample: a threshold crossing or an injected event.</summary>
/// <param name="SampleIndex">Index of the sample within the measurement.</param>
/// <param name="Channel">Channel the event belongs to.</param>
/// <param name="Kind">Short name, e.g. "spike" or "threshold".</param>
/// <param name="Value">Sample value at the event.</param>
public readonly record struct SampleEvent(long SampleIndex, int Channel, string Kind, float Value);
