using System.Collections.Concurrent;
using System.Diagnostics;

namespace MeasureApp.Acquisition.Accounting;

/// <summary>
/// Per-user resource use, live: what each user's measurements acquire and cost, and what each
/// user's browser tabs receive, queue and drop. Samples and pipeline time are charged to a
/// measurement's owner; browser bytes, buffer memory and drops to the subscriber (an admin watching
/// someone's measurement pays for their own tab). Holds counts keyed by user id only, so nothing of
/// one user's data can reach another through it.
/// </summary>
/// <remarks>
/// Charging is lock-free (<see cref="Interlocked"/> on a per-user <see cref="UserMeter"/>) and
/// allocates only the first time a user is seen; meters are kept for the process lifetime so totals
/// survive a user's last measurement. Rates come from the difference between successive
/// <see cref="Snapshot"/> calls, timed with the injected <see cref="TimeProvider"/>.
/// </remarks>
public sealed class ResourceAccountant(TimeProvider time)
{
    /// <summary>
    /// Snapshots closer together than this reuse the previous rates: several admin pages polling
    /// every second must not shrink each other's window to a few milliseconds of noise.
    /// </summary>
    public static readonly TimeSpan MinRateInterval = TimeSpan.FromMilliseconds(500);

    private readonly ConcurrentDictionary<string, UserMeter> _meters = new(StringComparer.Ordinal);
    private readonly Lock _snapshotGate = new();
    private readonly Dictionary<string, UserMeter.Totals> _baseline = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Rates> _rates = new(StringComparer.Ordinal);
    private long _baselineTimestamp = time.GetTimestamp();

    /// <summary>The meter of <paramref name="userId"/>, created on first use; keep it on hot paths.</summary>
    public UserMeter For(string userId)
    {
        ArgumentNullException.ThrowIfNull(userId);
        return _meters.TryGetValue(userId, out var meter) ? meter : _meters.GetOrAdd(userId, static id => new UserMeter(id));
    }

    /// <summary>Charges acquired samples (per channel, over <paramref name="channels"/> channels) to a measurement owner.</summary>
    public void AddSamples(string userId, long samples, int channels = 1) => For(userId).AddSamples(samples, channels);

    /// <summary>Charges pipeline work in <see cref="Stopwatch"/> ticks to a measurement owner.</summary>
    public void AddPipelineTicks(string userId, long stopwatchTicks) => For(userId).AddPipelineTicks(stopwatchTicks);

    /// <summary>Charges bytes sent to a subscriber's browser.</summary>
    public void AddBytesToBrowser(string userId, long bytes) => For(userId).AddBytesToBrowser(bytes);

    /// <summary>Charges dropped live frames to a subscriber.</summary>
    public void AddDrops(string userId, long frames) => For(userId).AddDrops(frames);

    /// <summary>Moves a subscriber's queued-frame memory gauge.</summary>
    public void AddBufferBytes(string userId, long delta) => For(userId).AddBufferBytes(delta);

    /// <summary>
    /// Every user seen so far with totals and rates (per second since the previous snapshot at
    /// least <see cref="MinRateInterval"/> ago; zero before the first such interval). Sorted by user id.
    /// </summary>
    public IReadOnlyList<UserUsage> Snapshot()
    {
        lock (_snapshotGate)
        {
            var now = time.GetTimestamp();
            var elapsed = time.GetElapsedTime(_baselineTimestamp, now);
            var roll = elapsed >= MinRateInterval;
            var result = new List<UserUsage>(_meters.Count);
            foreach (var meter in _meters.Values)
            {
                var totals = meter.Read();
                if (roll)
                {
                    _baseline.TryGetValue(meter.UserId, out var before);
                    var seconds = elapsed.TotalSeconds;
                    _rates[meter.UserId] = new Rates(
                        (totals.Samples - before.Samples) / seconds,
                        (totals.Values - before.Values) / seconds,
                        (totals.BytesToBrowser - before.BytesToBrowser) / seconds,
                        TicksToSeconds(totals.PipelineTicks - before.PipelineTicks) / seconds * 100,
                        (totals.DroppedFrames - before.DroppedFrames) / seconds);
                    _baseline[meter.UserId] = totals;
                }
                _rates.TryGetValue(meter.UserId, out var rates);
                result.Add(new UserUsage
                {
                    UserId = meter.UserId,
                    Samples = totals.Samples,
                    Values = totals.Values,
                    PipelineTime = TimeSpan.FromSeconds(TicksToSeconds(totals.PipelineTicks)),
                    BytesToBrowser = totals.BytesToBrowser,
                    DroppedFrames = totals.DroppedFrames,
                    BufferBytes = totals.BufferBytes,
                    RunningMeasurements = (int)totals.RunningMeasurements,
                    MeasurementsStarted = totals.MeasurementsStarted,
                    OpenSubscriptions = (int)totals.OpenSubscriptions,
                    SamplesPerSecond = rates.SamplesPerSecond,
                    ValuesPerSecond = rates.ValuesPerSecond,
                    BytesToBrowserPerSecond = rates.BytesPerSecond,
                    PipelinePercent = rates.PipelinePercent,
                    DroppedFramesPerSecond = rates.DropsPerSecond,
                });
            }
            if (roll)
            {
                _baselineTimestamp = now;
            }
            result.Sort(static (a, b) => string.CompareOrdinal(a.UserId, b.UserId));
            return result;
        }
    }

    private static double TicksToSeconds(long stopwatchTicks) => (double)stopwatchTicks / Stopwatch.Frequency;

    private readonly record struct Rates(double SamplesPerSecond, double ValuesPerSecond, double BytesPerSecond, double PipelinePercent, double DropsPerSecond);
}

/// <summary>One user's resource use at a snapshot: totals since the process started, gauges now, and rates.</summary>
public sealed record UserUsage
{
    /// <summary>The user.</summary>
    public required string UserId { get; init; }

    /// <summary>Samples per channel acquired by the user's measurements.</summary>
    public long Samples { get; init; }

    /// <summary>Values (samples × channels) acquired: the load on storage and fan-out.</summary>
    public long Values { get; init; }

    /// <summary>Time spent publishing the user's blocks (storage hand-off and live decimation for every watcher).</summary>
    public TimeSpan PipelineTime { get; init; }

    /// <summary>Estimated bytes sent to the user's browser tabs.</summary>
    public long BytesToBrowser { get; init; }

    /// <summary>Live frames dropped because the user's tabs were too slow.</summary>
    public long DroppedFrames { get; init; }

    /// <summary>Estimated memory of live frames queued for the user's tabs right now.</summary>
    public long BufferBytes { get; init; }

    /// <summary>Measurements of the user running now.</summary>
    public int RunningMeasurements { get; init; }

    /// <summary>Measurements the user started since the process started.</summary>
    public long MeasurementsStarted { get; init; }

    /// <summary>Live subscriptions (charts) the user has open now.</summary>
    public int OpenSubscriptions { get; init; }

    /// <summary>Samples per channel per second acquired.</summary>
    public double SamplesPerSecond { get; init; }

    /// <summary>Values per second acquired.</summary>
    public double ValuesPerSecond { get; init; }

    /// <summary>Estimated bytes per second to the user's browser tabs.</summary>
    public double BytesToBrowserPerSecond { get; init; }

    /// <summary>Pipeline time per wall-clock time, in percent of one core.</summary>
    public double PipelinePercent { get; init; }

    /// <summary>Dropped live frames per second.</summary>
    public double DroppedFramesPerSecond { get; init; }
}
