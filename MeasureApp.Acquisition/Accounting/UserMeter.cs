using System.Diagnostics;

namespace MeasureApp.Acquisition.Accounting;

/// <summary>
/// The counters of one user. Hot paths (the engine per block, a subscription per frame) keep a
/// reference to it so charging costs a few <see cref="Interlocked"/> operations and no lookup.
/// Holds counts only, never data of a measurement.
/// </summary>
public sealed class UserMeter
{
    private long _samples;
    private long _values;
    private long _pipelineTicks;
    private long _bytesToBrowser;
    private long _droppedFrames;
    private long _bufferBytes;
    private long _runningMeasurements;
    private long _measurementsStarted;
    private long _openSubscriptions;

    internal UserMeter(string userId) => UserId = userId;

    /// <summary>The user charged.</summary>
    public string UserId { get; }

    /// <summary>Charges acquired samples: <paramref name="samples"/> per channel over <paramref name="channels"/> channels.</summary>
    public void AddSamples(long samples, int channels = 1)
    {
        Interlocked.Add(ref _samples, samples);
        Interlocked.Add(ref _values, samples * channels);
    }

    /// <summary>Charges pipeline work measured in <see cref="Stopwatch"/> ticks.</summary>
    public void AddPipelineTicks(long stopwatchTicks) => Interlocked.Add(ref _pipelineTicks, stopwatchTicks);

    /// <summary>Charges bytes sent to the user's browser (an estimate, see <see cref="TrafficEstimate"/>).</summary>
    public void AddBytesToBrowser(long bytes) => Interlocked.Add(ref _bytesToBrowser, bytes);

    /// <summary>Charges live frames dropped because the user's tab was too slow.</summary>
    public void AddDrops(long frames) => Interlocked.Add(ref _droppedFrames, frames);

    /// <summary>Moves the gauge of queued live-frame memory; negative when frames leave a buffer.</summary>
    public void AddBufferBytes(long delta) => Interlocked.Add(ref _bufferBytes, delta);

    /// <summary>Counts a measurement of the user that started running.</summary>
    public void MeasurementStarted()
    {
        Interlocked.Increment(ref _measurementsStarted);
        Interlocked.Increment(ref _runningMeasurements);
    }

    /// <summary>Counts a measurement of the user that stopped running.</summary>
    public void MeasurementStopped() => Interlocked.Decrement(ref _runningMeasurements);

    /// <summary>Counts a live subscription the user opened.</summary>
    public void SubscriptionOpened() => Interlocked.Increment(ref _openSubscriptions);

    /// <summary>Counts a live subscription the user closed.</summary>
    public void SubscriptionClosed() => Interlocked.Decrement(ref _openSubscriptions);

    internal Totals Read() => new(
        Interlocked.Read(ref _samples),
        Interlocked.Read(ref _values),
        Interlocked.Read(ref _pipelineTicks),
        Interlocked.Read(ref _bytesToBrowser),
        Interlocked.Read(ref _droppedFrames),
        Interlocked.Read(ref _bufferBytes),
        Interlocked.Read(ref _runningMeasurements),
        Interlocked.Read(ref _measurementsStarted),
        Interlocked.Read(ref _openSubscriptions));

    internal readonly record struct Totals(
        long Samples,
        long Values,
        long PipelineTicks,
        long BytesToBrowser,
        long DroppedFrames,
        long BufferBytes,
        long RunningMeasurements,
        long MeasurementsStarted,
        long OpenSubscriptions);
}
