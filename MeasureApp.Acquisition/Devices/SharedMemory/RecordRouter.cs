using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Measurements;

namespace MeasureApp.Acquisition.Devices.SharedMemory;

/// <summary>
/// Routes parsed records to the measurement they name and turns them into blocks. Used by one thread
/// at a time (the reader's lock); allocation-free per record so a flood of bad input costs no memory.
/// </summary>
internal sealed class RecordRouter(SharedMemoryCounters counters, TimeProvider time, TimeSpan blockInterval, DeviceFaults? deviceFaults = null, string deviceId = "") : IRingTarget
{
    private const int RememberStopped = 64;
    private const string SequenceMessage = "A ring slot did not hold the expected record (stale, overwritten or not committed); it was skipped.";
    private const string TornMessage = "A record changed while it was read (the producer overwrote an unread slot); it was skipped.";
    private const string ChecksumMessage = "A record failed its CRC-32C checksum; it was skipped.";
    private const string ImpossibleChannelsMessage = "A record had an impossible channel count (0 or more than 8); it was skipped.";
    private const string OtherChannelsMessage = "A record's channel count differs from the measurement's; it was skipped.";
    private const string NonFiniteMessage = "A record held NaN or infinite values; they were replaced by the channel's last finite value.";
    private const string GapMessage = "The sample counter jumped: samples are missing; a new block starts after the gap.";
    private const string DuplicateMessage = "The sample counter repeated or went back; the record was skipped.";
    private const string UserMessage = "A record with this measurement's id carried another user's tag; it was not delivered.";
    private const string IndexMessage = "The write index went backwards; reading resumed at the producer's position.";
    private static readonly TimeSpan ForeignReportInterval = TimeSpan.FromSeconds(1);

    private Subscription[] _subscriptions = [];
    private long _now;
    private long _foreignUnreported;
    private long _lastForeignReport;
    private bool _foreignReportedOnce;
    // Measurements that stopped lately: their records that still arrive (written after the stop command)
    // are counted for them, on the device, rather than as anonymous foreign records.
    private readonly Queue<Guid> _stoppedOrder = new();
    private readonly Dictionary<Guid, long> _afterStop = [];
    private long _lateUnreported;

    public int Count => _subscriptions.Length;

    public IReadOnlyList<Subscription> Subscriptions => _subscriptions;

    public SharedMemoryCounters Counters => counters;

    /// <summary>Timestamp (of the reader's <see cref="TimeProvider"/>) used for the records of the current batch.</summary>
    public void SetNow(long timestamp) => _now = timestamp;

    public Subscription CreateSubscription(MeasurementInfo measurement, IBlockSink sink)
    {
        // A few milliseconds of samples per block, like the simulated driver.
        var samples = (int)Math.Clamp(Math.Ceiling(measurement.SampleRate * blockInterval.TotalSeconds), 1, Subscription.MaxBlockSamples);
        return new Subscription(measurement, sink, samples, counters);
    }

    public void Add(Subscription subscription) => _subscriptions = [.. _subscriptions, subscription];

    public void Remove(Subscription subscription)
    {
        // Copy-on-write: a batch iterating the old array (re-entered from a sink) stays valid.
        _subscriptions = Array.FindAll(_subscriptions, s => s != subscription);
        subscription.Flush();
        subscription.Active = false;
    }

    public void OnRecord(ReadOnlySpan<byte> record, ulong expectedSequence)
    {
        Span<float> values = stackalloc float[SharedMemoryLayout.MaxChannels];
        var status = SharedMemoryLayout.ParseRecord(record, expectedSequence, values, out var parsed);
        switch (status)
        {
            case RecordStatus.Ok:
            case RecordStatus.ChannelCount:
                break;
            case RecordStatus.Checksum:
                RingFault(FaultKind.Checksum, ChecksumMessage);
                return;
            default:
                RingFault(FaultKind.Sequence, SequenceMessage);
                return;
        }
        var subscription = Find(parsed.MeasurementId);
        if (subscription is null)
        {
            // Another measurement's traffic (or one that already stopped): never delivered, counted
            // exactly, reported in bursts on the device — never to the measurements that do run.
            counters.Fault(FaultKind.Foreign);
            if (_afterStop.TryGetValue(parsed.MeasurementId, out var late))
            {
                _afterStop[parsed.MeasurementId] = late + 1;
                _lateUnreported++;
            }
            else
            {
                _foreignUnreported++;
            }
            return;
        }
        if (!subscription.Active)
        {
            return;
        }
        if (status == RecordStatus.ChannelCount)
        {
            SubscriptionFault(subscription, FaultKind.Channels, ImpossibleChannelsMessage);
            return;
        }
        var outcome = subscription.Append(parsed, values, _now, out var missing);
        if ((outcome & AppendOutcome.Delivered) != 0)
        {
            counters.Records(1);
        }
        if (outcome == AppendOutcome.Delivered)
        {
            return;
        }
        if ((outcome & AppendOutcome.UserMismatch) != 0)
        {
            SubscriptionFault(subscription, FaultKind.User, UserMessage);
        }
        if ((outcome & AppendOutcome.ChannelMismatch) != 0)
        {
            SubscriptionFault(subscription, FaultKind.Channels, OtherChannelsMessage);
        }
        if ((outcome & AppendOutcome.Duplicate) != 0)
        {
            SubscriptionFault(subscription, FaultKind.Duplicate, DuplicateMessage);
        }
        if ((outcome & AppendOutcome.Gap) != 0)
        {
            counters.Missing(missing > long.MaxValue ? long.MaxValue : (long)missing);
            SubscriptionFault(subscription, FaultKind.Gap, GapMessage);
        }
        if ((outcome & AppendOutcome.NonFinite) != 0)
        {
            SubscriptionFault(subscription, FaultKind.NonFinite, NonFiniteMessage);
        }
    }

    public void OnTornRecord() => RingFault(FaultKind.Sequence, TornMessage);

    public void OnOverrun(ulong lostRecords, bool droppedByProducer)
    {
        var lost = lostRecords > long.MaxValue ? long.MaxValue : (long)lostRecords;
        counters.Lost(lost);
        RingFault(FaultKind.Overrun, droppedByProducer
            ? $"The producer dropped {lostRecords} records because the ring was full."
            : $"The write index ran more than one ring ahead; {lostRecords} records were lost and reading resumed at the newest record.", lost);
    }

    public void OnIndexWentBack() => RingFault(FaultKind.Index, IndexMessage);

    /// <summary>
    /// A fault of the ring itself: every measurement reading it may have lost data, so each counts it;
    /// the device logs it once. <paramref name="count"/>: records lost for an overrun, else 1.
    /// </summary>
    public void RingFault(FaultKind kind, string message, long count = 1)
    {
        counters.Fault(kind);
        var name = SharedMemoryFaults.All[(int)kind];
        deviceFaults?.Report(deviceId, name, count, message);
        foreach (var s in _subscriptions)
        {
            if (s.Active)
            {
                s.Sink.DeviceFault(name, message, count);
            }
        }
    }

    /// <summary>Remembers a measurement that stopped, so its records still in flight are counted for it.</summary>
    public void Stopped(Guid measurementId)
    {
        if (_afterStop.TryAdd(measurementId, 0))
        {
            _stoppedOrder.Enqueue(measurementId);
            if (_stoppedOrder.Count > RememberStopped)
            {
                _afterStop.Remove(_stoppedOrder.Dequeue());
            }
        }
    }

    /// <summary>Publishes blocks that waited long enough and reports ignored foreign records (at most once a second).</summary>
    public void FlushDue(long now)
    {
        foreach (var s in _subscriptions)
        {
            s.FlushIfOlderThan(now, time, blockInterval);
        }
        if ((_foreignUnreported > 0 || _lateUnreported > 0) && (!_foreignReportedOnce || time.GetElapsedTime(_lastForeignReport, now) >= ForeignReportInterval))
        {
            if (_foreignUnreported > 0)
            {
                deviceFaults?.Report(deviceId, SharedMemoryFaults.Foreign, _foreignUnreported,
                    $"{_foreignUnreported} records of measurements not running here were ignored.");
            }
            foreach (var id in _stoppedOrder)
            {
                if (_afterStop[id] is var n and > 0)
                {
                    deviceFaults?.Report(deviceId, SharedMemoryFaults.Foreign, n,
                        $"{n} records of measurement {id} arrived after its stop command; they were not stored.");
                    _afterStop[id] = 0;
                }
            }
            _foreignUnreported = 0;
            _lateUnreported = 0;
            _lastForeignReport = now;
            _foreignReportedOnce = true;
        }
    }

    /// <summary>After a producer restart: publish what is pending and forget sample-counter continuity.</summary>
    public void ResetStreams()
    {
        foreach (var s in _subscriptions)
        {
            s.ResetStream();
        }
    }

    private Subscription? Find(Guid measurementId)
    {
        foreach (var s in _subscriptions)
        {
            if (s.MeasurementId == measurementId)
            {
                return s;
            }
        }
        return null;
    }

    private void SubscriptionFault(Subscription subscription, FaultKind kind, string message)
    {
        counters.Fault(kind);
        subscription.Sink.Fault(SharedMemoryFaults.All[(int)kind], message);
    }
}

/// <summary>What happened to one record offered to a subscription.</summary>
[Flags]
internal enum AppendOutcome
{
    None = 0,
    Delivered = 1,
    Gap = 2,
    NonFinite = 4,
    ChannelMismatch = 8,
    UserMismatch = 16,
    Duplicate = 32,
}

/// <summary>
/// One measurement reading the ring: collects its records channel-major in a scratch buffer and
/// publishes a block when a few milliseconds of samples are together or the stream breaks.
/// </summary>
internal sealed class Subscription
{
    /// <summary>Largest block in samples per channel.</summary>
    public const int MaxBlockSamples = 16_384;

    private readonly SharedMemoryCounters _counters;
    private readonly float[] _scratch;
    private readonly float[] _hold = new float[SharedMemoryLayout.MaxChannels];
    private readonly int _blockSamples;
    private int _pending;
    private long _t0Ns;
    private long _firstPendingAt;
    private ulong _nextCounter;
    private bool _haveCounter;
    private bool _startsRun = true;

    public Subscription(MeasurementInfo measurement, IBlockSink sink, int blockSamples, SharedMemoryCounters counters)
    {
        MeasurementId = measurement.Id;
        UserTag = SharedMemoryLayout.UserTag(measurement.OwnerId);
        Channels = measurement.Channels.Count;
        SampleRate = measurement.SampleRate;
        Sink = sink;
        _blockSamples = blockSamples;
        _counters = counters;
        _scratch = new float[Channels * blockSamples];
    }

    public Guid MeasurementId { get; }

    public ulong UserTag { get; }

    public int Channels { get; }

    public double SampleRate { get; }

    public IBlockSink Sink { get; }

    /// <summary>False once removed or once the sink refused a block (the measurement stopped).</summary>
    public bool Active { get; set; } = true;

    public AppendOutcome Append(in SharedMemoryRecord record, ReadOnlySpan<float> values, long now, out ulong missing)
    {
        missing = 0;
        if (record.UserTag != UserTag)
        {
            return AppendOutcome.UserMismatch;
        }
        if (record.ChannelCount != Channels)
        {
            return AppendOutcome.ChannelMismatch;
        }
        var outcome = AppendOutcome.Delivered;
        if (_haveCounter)
        {
            if (record.SampleCounter < _nextCounter)
            {
                return AppendOutcome.Duplicate;
            }
            if (record.SampleCounter > _nextCounter)
            {
                // A block is regularly sampled: the samples after a gap start a new one.
                missing = record.SampleCounter - _nextCounter;
                outcome |= AppendOutcome.Gap;
                Flush();
                _startsRun = true;
            }
        }
        if (_pending == 0)
        {
            _t0Ns = record.TimestampNs;
            _firstPendingAt = now;
        }
        for (var c = 0; c < Channels; c++)
        {
            var v = values[c];
            if ((record.NonFiniteMask & (1 << c)) != 0)
            {
                // Hold the last finite value: the stream stays regular and NaN-free for M4 and storage.
                v = _hold[c];
            }
            else
            {
                _hold[c] = v;
            }
            _scratch[c * _blockSamples + _pending] = v;
        }
        if (record.NonFiniteMask != 0)
        {
            outcome |= AppendOutcome.NonFinite;
        }
        _pending++;
        _nextCounter = unchecked(record.SampleCounter + 1);
        _haveCounter = true;
        if (_pending == _blockSamples)
        {
            Flush();
        }
        return outcome;
    }

    public void Flush()
    {
        var count = _pending;
        if (count == 0)
        {
            return;
        }
        // Cleared before publishing: a sink that stops the measurement re-enters Remove → Flush.
        _pending = 0;
        if (!Active)
        {
            return;
        }
        var block = SampleBlock.Rent(Channels, count);
        for (var c = 0; c < Channels; c++)
        {
            _scratch.AsSpan(c * _blockSamples, count).CopyTo(block.WritableChannel(c));
        }
        block.T0Ns = _t0Ns;
        block.SampleRate = SampleRate;
        // After a gap or restart the block stands at its own time stamp (and starts a stored chunk).
        block.StartsRun = _startsRun;
        _startsRun = false;
        _counters.Block();
        if (!Sink.Publish(block))
        {
            Active = false;
        }
    }

    public void FlushIfOlderThan(long now, TimeProvider time, TimeSpan age)
    {
        if (_pending > 0 && time.GetElapsedTime(_firstPendingAt, now) >= age)
        {
            Flush();
        }
    }

    public void ResetStream()
    {
        Flush();
        _haveCounter = false;
        _startsRun = true;
    }
}
