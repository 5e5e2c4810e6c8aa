using System.Buffers.Binary;
using System.Runtime.InteropServices;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Measurements;

namespace MeasureApp.Acquisition.Devices.Network;

/// <summary>What became of a DATA frame offered to a measurement.</summary>
internal enum DeliveryOutcome
{
    Delivered,
    Duplicate,
    ChannelMismatch,
    RateMismatch,
    Stopped,
}

/// <summary>
/// One running measurement registered with a listener: checks a frame against the measurement,
/// tracks the collector's sequence numbers and turns the frame into a block. Deliveries are
/// serialized per measurement because TCP connections and the UDP loop may feed it at once, and
/// because after <see cref="DisposeAsync"/> returns no block may reach the sink any more.
/// </summary>
internal sealed class NetworkRoute(NetworkListener listener, MeasurementInfo measurement, IBlockSink sink) : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private ulong _next;
    private bool _started;
    private bool _stopped;

    public Guid MeasurementId => measurement.Id;

    public string OwnerId => measurement.OwnerId;

    public IBlockSink Sink => sink;

    public bool IsStopped => Volatile.Read(ref _stopped);

    public DeliveryOutcome Deliver(in FrameView frame)
    {
        lock (_gate)
        {
            if (_stopped)
            {
                return DeliveryOutcome.Stopped;
            }
            if (frame.ChannelCount != measurement.Channels.Count)
            {
                sink.Fault(NetworkFaultKinds.Mismatch, $"Frame {frame.Sequence} has {frame.ChannelCount} channels; the measurement has {measurement.Channels.Count}.");
                return DeliveryOutcome.ChannelMismatch;
            }
            if (Math.Abs(frame.SampleRate - measurement.SampleRate) > measurement.SampleRate * 1e-9)
            {
                sink.Fault(NetworkFaultKinds.Mismatch, $"Frame {frame.Sequence} is sampled at {frame.SampleRate} Hz; the measurement at {measurement.SampleRate} Hz.");
                return DeliveryOutcome.RateMismatch;
            }
            var sequence = frame.Sequence;
            // After a restart or lost frames the samples stand at the frame's own time stamp.
            var startsRun = false;
            if ((frame.Flags & FrameFlags.Restart) != 0)
            {
                if (_started)
                {
                    startsRun = true;
                    sink.Fault(NetworkFaultKinds.CollectorRestart, $"The collector restarted at sequence {sequence} (expected {_next}).");
                }
            }
            else if (_started && sequence < _next)
            {
                sink.Fault(NetworkFaultKinds.Duplicate, $"Frame {sequence} was already received; dropped.");
                return DeliveryOutcome.Duplicate;
            }
            else if (_started && sequence > _next)
            {
                sink.Fault(NetworkFaultKinds.SequenceGap, $"{sequence - _next} frame(s) missing before frame {sequence}.");
                startsRun = true;
            }
            _started = true;
            _next = sequence + 1;

            var block = SampleBlock.Rent(frame.ChannelCount, frame.SampleCount);
            block.T0Ns = frame.T0Ns;
            block.StartsRun = startsRun;
            block.SampleRate = measurement.SampleRate;
            CopySamples(frame.SampleBytes, block.Writable);
            if (!sink.Publish(block))
            {
                _stopped = true;
                return DeliveryOutcome.Stopped;
            }
            return DeliveryOutcome.Delivered;
        }
    }

    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _stopped = true;
        }
        listener.Unregister(this);
        return ValueTask.CompletedTask;
    }

    private static void CopySamples(ReadOnlySpan<byte> bytes, Span<float> destination)
    {
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.Cast<byte, float>(bytes).CopyTo(destination);
            return;
        }
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
        }
    }
}
