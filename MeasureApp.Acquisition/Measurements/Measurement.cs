using MeasureApp.Acquisition.Blocks;

namespace MeasureApp.Acquisition.Measurements;

/// <summary>Lifecycle states; a measurement only moves forward.</summary>
public enum MeasurementState
{
    /// <summary>Accepted, device not yet producing.</summary>
    Starting = 0,
    /// <summary>The device produces blocks.</summary>
    Running = 1,
    /// <summary>Ended; <see cref="StopReason"/> says why.</summary>
    Stopped = 2,
}

/// <summary>Why a measurement stopped; kept with it.</summary>
public enum StopReason
{
    /// <summary>Still running.</summary>
    None = 0,
    /// <summary>The owner pressed stop.</summary>
    User = 1,
    /// <summary>The requested duration elapsed.</summary>
    Duration = 2,
    /// <summary>A limit (duration limit, storage overload) ended it.</summary>
    Limit = 3,
    /// <summary>An administrator ended it.</summary>
    Admin = 4,
    /// <summary>The device failed.</summary>
    DeviceError = 5,
    /// <summary>The server shut down.</summary>
    Shutdown = 6,
}

/// <summary>What a user asks for when starting a measurement.</summary>
public sealed record StartRequest
{
    /// <summary>Configured device id.</summary>
    public required string DeviceId { get; init; }
    /// <summary>Display name.</summary>
    public required string Name { get; init; }
    /// <summary>Channel count, 1–8.</summary>
    public int Channels { get; init; } = 1;
    /// <summary>Samples per second per channel, 100 Hz – 100 kHz.</summary>
    public double SampleRate { get; init; } = 1000;
    /// <summary>Optional duration after which the measurement stops by itself.</summary>
    public TimeSpan? Duration { get; init; }
}

/// <summary>Who is asking: the engine checks ownership with this, never trusts the UI.</summary>
/// <param name="UserId">Identity user id.</param>
/// <param name="UserName">Display name (email).</param>
/// <param name="IsAdmin">Admins may see and stop every measurement.</param>
public sealed record Requester(string UserId, string UserName, bool IsAdmin)
{
    /// <summary>True when this requester may see/act on a measurement owned by <paramref name="ownerId"/>.</summary>
    public bool MayAccess(string ownerId) => IsAdmin || string.Equals(UserId, ownerId, StringComparison.Ordinal);
}

/// <summary>A point-in-time view of a measurement (safe to hand to the UI and to storage).</summary>
public sealed record MeasurementInfo
{
    /// <summary>Measurement id.</summary>
    public required Guid Id { get; init; }
    /// <summary>Owner's user id.</summary>
    public required string OwnerId { get; init; }
    /// <summary>Owner's name at start.</summary>
    public required string OwnerName { get; init; }
    /// <summary>Display name.</summary>
    public required string Name { get; init; }
    /// <summary>Device id.</summary>
    public required string DeviceId { get; init; }
    /// <summary>Channel names and units.</summary>
    public required IReadOnlyList<ChannelInfo> Channels { get; init; }
    /// <summary>Samples per second per channel.</summary>
    public required double SampleRate { get; init; }
    /// <summary>Lifecycle state.</summary>
    public required MeasurementState State { get; init; }
    /// <summary>Why it stopped.</summary>
    public StopReason StopReason { get; init; }
    /// <summary>Free-text detail of the stop (device error message, limit).</summary>
    public string? StopDetail { get; init; }
    /// <summary>Start time (UTC).</summary>
    public required DateTimeOffset StartedAt { get; init; }
    /// <summary>Stop time (UTC).</summary>
    public DateTimeOffset? StoppedAt { get; init; }
    /// <summary>Samples per channel acquired so far.</summary>
    public long SampleCount { get; init; }
    /// <summary>Requested duration.</summary>
    public TimeSpan? Duration { get; init; }
    /// <summary>Device faults by kind (see docs/shared-memory.md and docs/network-protocol.md); empty when none.</summary>
    public IReadOnlyDictionary<string, long> Faults { get; init; } = new Dictionary<string, long>();
    /// <summary>Fault bursts started so far: a change tells a watcher that a new burst began.</summary>
    public long FaultBursts { get; init; }
}

/// <summary>Name and unit of one channel.</summary>
/// <param name="Name">Channel name.</param>
/// <param name="Unit">Physical unit.</param>
public sealed record ChannelInfo(string Name, string Unit);

/// <summary>
/// One running measurement: lifecycle, sequence numbering of its blocks and counters.
/// Thread-safe; the device thread publishes, any thread may stop.
/// </summary>
public sealed class Measurement
{
    private readonly Lock _gate = new();
    private readonly long _targetSamples;
    private long _sequence;
    private long _sampleCount;
    private MeasurementInfo _info;
    private bool _sealed;
    // The run the newest block belongs to: its first sample's index and time stamp.
    private bool _inRun;
    private long _runFirstIndex;
    private long _runT0Ns;

    internal Measurement(MeasurementInfo info)
    {
        _info = info;
        // A duration means exactly that many samples (rate × seconds), not wall time.
        _targetSamples = info.Duration is { } d ? Math.Max(1, (long)Math.Round(d.TotalSeconds * info.SampleRate, MidpointRounding.AwayFromZero)) : long.MaxValue;
    }

    /// <summary>Fault counts by kind.</summary>
    public FaultTally Faults { get; } = new();

    /// <summary>Samples per channel a requested duration amounts to; <see cref="long.MaxValue"/> without one.</summary>
    public long TargetSamples => _targetSamples;

    /// <summary>Measurement id.</summary>
    public Guid Id => _info.Id;

    /// <summary>Owner's user id.</summary>
    public string OwnerId => _info.OwnerId;

    /// <summary>Current state.</summary>
    public MeasurementState State => Volatile.Read(ref _info).State;

    /// <summary>Samples per channel so far.</summary>
    public long SampleCount => Interlocked.Read(ref _sampleCount);

    /// <summary>The current view including the live sample count.</summary>
    public MeasurementInfo Snapshot() => Volatile.Read(ref _info) with { SampleCount = SampleCount, Faults = Faults.Snapshot(), FaultBursts = Faults.Bursts };

    /// <summary>Starting → Running. False when already stopped (e.g. stopped while starting).</summary>
    public bool MarkRunning()
    {
        lock (_gate)
        {
            if (_info.State != MeasurementState.Starting)
            {
                return false;
            }
            _info = _info with { State = MeasurementState.Running };
            return true;
        }
    }

    /// <summary>Moves to Stopped; the first reason wins, later calls return false.</summary>
    public bool MarkStopped(StopReason reason, DateTimeOffset at, string? detail = null)
    {
        if (reason == StopReason.None)
        {
            throw new ArgumentException("A stop needs a reason.", nameof(reason));
        }
        lock (_gate)
        {
            if (_info.State == MeasurementState.Stopped)
            {
                return false;
            }
            _info = _info with { State = MeasurementState.Stopped, StopReason = reason, StopDetail = detail, StoppedAt = at };
            return true;
        }
    }

    /// <summary>No block is accepted any more (after the stop, once the device has delivered what it had).</summary>
    internal void Seal()
    {
        lock (_gate)
        {
            _sealed = true;
        }
    }

    /// <summary>
    /// Stamps a block produced by the device with this measurement's id, the next sequence number, the
    /// index of its first sample and its place in time. Returns the block to hand on — the block itself,
    /// or a shortened copy when it would run past a requested duration (the caller releases both) — or
    /// null once sealed or complete. <paramref name="complete"/> says that the duration's samples are all in.
    /// </summary>
    /// <remarks>
    /// Under one lock: a device may publish from several threads (one network connection each), and
    /// sequence, first index and time must be assigned together, in the same order, or the stream would
    /// get gaps and overlaps. A block continues the current run when its time stamp lies within half a
    /// period of where the run predicts it; it then gets exactly the predicted time (so every sample of a
    /// run is <c>t_run + round(i·10⁹/rate) − round(i_run·10⁹/rate)</c>). Otherwise it starts a new run at
    /// its own time stamp. A stop does not seal at once: the device drains what it had first.
    /// </remarks>
    internal SampleBlock? Stamp(SampleBlock block, out bool complete)
    {
        lock (_gate)
        {
            complete = false;
            var remaining = _targetSamples - _sampleCount;
            if (_sealed || remaining <= 0)
            {
                return null;
            }
            if (block.Count > remaining)
            {
                block = block.Head((int)remaining);
            }
            var rate = _info.SampleRate;
            if (_inRun && !block.StartsRun)
            {
                var predicted = SampleTime.TimeOfNs(_runT0Ns, _runFirstIndex, _sampleCount, rate);
                if (Math.Abs((double)(block.T0Ns - predicted)) <= 0.5e9 / rate)
                {
                    block.T0Ns = predicted;
                }
                else
                {
                    block.StartsRun = true;
                }
            }
            else
            {
                block.StartsRun = true;
            }
            if (block.StartsRun)
            {
                _inRun = true;
                _runFirstIndex = _sampleCount;
                _runT0Ns = block.T0Ns;
            }
            block.MeasurementId = _info.Id;
            block.SampleRate = rate;
            block.Sequence = _sequence++;
            block.FirstSampleIndex = _sampleCount;
            Interlocked.Add(ref _sampleCount, block.Count);
            complete = _sampleCount >= _targetSamples;
            return block;
        }
    }

    /// <summary>Stamps a block of a measurement without a duration (tests); false once sealed.</summary>
    internal bool Stamp(SampleBlock block) => Stamp(block, out _) == block;

    /// <summary>
    /// Takes back the newest stamp when its block could not be handed on (store queue full): the block
    /// was not acknowledged, so it must not count as acquired. False when another block was stamped since.
    /// </summary>
    internal bool Unstamp(SampleBlock block)
    {
        lock (_gate)
        {
            if (block.MeasurementId != _info.Id || block.Sequence != _sequence - 1)
            {
                return false;
            }
            _sequence--;
            Interlocked.Add(ref _sampleCount, -block.Count);
            // The next block starts afresh at its own time stamp.
            _inRun = false;
            return true;
        }
    }
}
