using System.Collections.Concurrent;
using System.Diagnostics;
using MeasureApp.Acquisition.Accounting;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MeasureApp.Acquisition.Measurements;

/// <summary>The answer to a start request: the measurement, or a refusal that states the numbers.</summary>
/// <param name="Measurement">The started measurement, when accepted.</param>
/// <param name="Error">Why it was refused, when refused.</param>
public sealed record StartResult(MeasurementInfo? Measurement, string? Error)
{
    /// <summary>True when the measurement runs.</summary>
    public bool Succeeded => Measurement is not null;
}

/// <summary>
/// Starts and stops measurements: checks the request and the user's limits, drives the device,
/// routes every block to the live hub and the store writer, and enforces durations. Ownership is
/// checked here, not in the UI.
/// </summary>
public sealed class MeasurementEngine(
    IOptions<AcquisitionOptions> options,
    IEnumerable<IDeviceDriver> drivers,
    LiveHub hub,
    StoreWriter storeWriter,
    ISampleStore store,
    ILimitCoordinator limits,
    TimeProvider time,
    ILogger<MeasurementEngine> logger,
    ResourceAccountant? accountant = null,
    DeviceFaults? deviceFaults = null,
    IDeviceCatalog? catalog = null) : BackgroundService
{
    private static readonly TimeSpan DurationCheckInterval = TimeSpan.FromMilliseconds(250);
    // A requested duration ends when its samples are in; the clock only ends a device that falls this far behind.
    private static readonly TimeSpan MinDurationGrace = TimeSpan.FromSeconds(2);
    private readonly ConcurrentDictionary<Guid, Running> _running = new();
    private readonly ConcurrentDictionary<string, UserWatchers> _watchers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IDeviceDriver> _drivers = drivers.ToDictionary(d => d.Kind, StringComparer.OrdinalIgnoreCase);
    private PeriodicTimer? _durationTimer;
    private DeviceFaults? _deviceFaults;

    /// <summary>Fault counts per device (every fault of its measurements and those that belong to none).</summary>
    public DeviceFaults DeviceFaults
    {
        get
        {
            if (_deviceFaults is null)
            {
                Interlocked.CompareExchange(ref _deviceFaults,
                    deviceFaults ?? new DeviceFaults(time, Microsoft.Extensions.Logging.Abstractions.NullLogger<DeviceFaults>.Instance), null);
            }
            return _deviceFaults!;
        }
    }

    /// <summary>The refusal of a start while the database cannot record the measurement.</summary>
    public const string DatabaseUnavailable = "The database is unavailable; the measurement was not started.";

    // Devices are looked up at each start (catalog), not fixed at startup: run-time edits apply at once.
    private readonly IDeviceCatalog _catalog = catalog ?? new OptionsDeviceCatalog(options);

    /// <summary>Configured devices (as last known to the device catalog).</summary>
    public IReadOnlyList<DeviceOptions> Devices => _catalog.Devices;

    /// <summary>Starts a measurement for <paramref name="requester"/> within <paramref name="userLimits"/>.</summary>
    public async Task<StartResult> StartAsync(Requester requester, UserLimits userLimits, StartRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        ArgumentNullException.ThrowIfNull(userLimits);
        ArgumentNullException.ThrowIfNull(request);

        var device = await _catalog.FindAsync(request.DeviceId, cancellationToken);
        var error = Validate(userLimits, request, device, out var driver);
        if (error is not null)
        {
            return new StartResult(null, error);
        }
        // Before a slot is taken or a record written: a device that cannot serve the request (too slow,
        // unreachable) refuses it with its own numbers instead of starting and stopping at once.
        if (driver is IDeviceStartCheck check && await check.CheckStartAsync(device!, request.Channels, request.SampleRate, cancellationToken) is { } refused)
        {
            return new StartResult(null, refused);
        }

        var (acquired, inUse) = await limits.TryAcquireMeasurementSlotAsync(requester.UserId, userLimits.MaxParallelMeasurements, cancellationToken);
        if (!acquired)
        {
            return new StartResult(null, $"You are running {inUse} of {userLimits.MaxParallelMeasurements} allowed measurements.");
        }

        var info = new MeasurementInfo
        {
            Id = Guid.CreateVersion7(),
            OwnerId = requester.UserId,
            OwnerName = requester.UserName,
            Name = request.Name.Trim(),
            DeviceId = device!.Id,
            Channels = ChannelsOf(device, request.Channels),
            SampleRate = request.SampleRate,
            State = MeasurementState.Starting,
            StartedAt = time.GetUtcNow(),
            Duration = request.Duration,
        };
        try
        {
            // Recorded as Running right away: the device starts without an await in between, and a
            // later "now running" update could overtake the stop's update and resurrect the state.
            await store.CreateMeasurementAsync(info with { State = MeasurementState.Running }, cancellationToken);
        }
        catch (Exception ex)
        {
            // Whatever went wrong (a cancelled request included), the slot taken above goes back.
            await limits.ReleaseMeasurementSlotAsync(requester.UserId, CancellationToken.None);
            if (ex is OperationCanceledException)
            {
                throw;
            }
            logger.LogError(ex, "Could not record measurement {Measurement}", info.Id);
            return new StartResult(null, DatabaseUnavailable);
        }

        _ = DeviceFaults;
        var (deadline, deadlineIsRequested) = DeadlineOf(info, userLimits);
        var running = new Running(this, new Measurement(info), deadline, deadlineIsRequested);
        _running[info.Id] = running;
        accountant?.For(info.OwnerId).MeasurementStarted();
        hub.Open(info);
        try
        {
            running.Device = driver!.Start(device, info, running);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            running.DeviceReady.TrySetResult();
            logger.LogError(ex, "Device {Device} could not start measurement {Measurement}", device.Id, info.Id);
            var message = $"Device '{device.Id}' could not start: {ex.Message}";
            await StopCoreAsync(running, StopReason.DeviceError, message);
            return new StartResult(null, message);
        }
        running.DeviceReady.TrySetResult();
        if (!running.Measurement.MarkRunning())
        {
            // The device failed (or someone stopped it) before it was up: that stop cleans up and
            // records the reason. Once it is done (slot free again) the caller hears why.
            await running.Stopped.Task;
            var stopped = running.Measurement.Snapshot();
            return new StartResult(null, $"The measurement stopped while starting ({stopped.StopReason}): {stopped.StopDetail}");
        }
        logger.LogInformation("Measurement {Measurement} ({Name}) started by {User} on {Device}", info.Id, info.Name.ReplaceLineEndings(" "), requester.UserName, device.Id);
        Notify(running.Measurement.Snapshot());
        return new StartResult(running.Measurement.Snapshot(), null);
    }

    /// <summary>Stops a measurement the requester may access; false means "not found" (also for another user's id).</summary>
    public async Task<bool> StopAsync(Guid measurementId, Requester requester, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        if (!_running.TryGetValue(measurementId, out var running) || !requester.MayAccess(running.Measurement.OwnerId))
        {
            return false;
        }
        var reason = requester.UserId == running.Measurement.OwnerId ? StopReason.User : StopReason.Admin;
        await StopCoreAsync(running, reason, null);
        return true;
    }

    /// <summary>
    /// Applies a user's changed limits to their running work at once: the duration limit moves the
    /// deadline of every running measurement (a lower limit that has already passed stops it at the
    /// next check, reason Limit). Other limits apply at the next start.
    /// </summary>
    public void ApplyLimits(string userId, UserLimits userLimits)
    {
        ArgumentNullException.ThrowIfNull(userLimits);
        foreach (var r in _running.Values.Where(r => string.Equals(r.Measurement.OwnerId, userId, StringComparison.Ordinal)))
        {
            var (deadline, requested) = DeadlineOf(r.Measurement.Snapshot(), userLimits);
            r.SetDeadline(deadline, requested);
        }
    }

    /// <summary>Running measurements the requester may see (own; admins: all).</summary>
    public IReadOnlyList<MeasurementInfo> GetRunning(Requester requester)
    {
        ArgumentNullException.ThrowIfNull(requester);
        return [.. _running.Values
            .Where(r => requester.MayAccess(r.Measurement.OwnerId))
            .Select(r => r.Measurement.Snapshot())
            .OrderBy(m => m.StartedAt)];
    }

    /// <summary>A running measurement, or null when it is not running or not the requester's.</summary>
    public MeasurementInfo? Find(Guid measurementId, Requester requester)
    {
        ArgumentNullException.ThrowIfNull(requester);
        return _running.TryGetValue(measurementId, out var r) && requester.MayAccess(r.Measurement.OwnerId) ? r.Measurement.Snapshot() : null;
    }

    /// <summary>Trusted system call (relay, orphan sweep): whether the measurement runs on this instance, whoever owns it.</summary>
    public bool IsRunningHere(Guid measurementId) => _running.ContainsKey(measurementId);

    /// <summary>Trusted system call (the relay's announcements): every measurement running on this instance.</summary>
    public IReadOnlyList<MeasurementInfo> RunningHere() =>
        [.. _running.Values.Select(r => r.Measurement.Snapshot()).OrderBy(m => m.StartedAt)];

    /// <summary>Calls <paramref name="onChange"/> whenever one of the user's measurements starts or stops.</summary>
    public IDisposable Watch(string userId, Action<MeasurementInfo> onChange)
    {
        var watchers = _watchers.GetOrAdd(userId, _ => new UserWatchers());
        return watchers.Add(onChange);
    }

    /// <summary>Starts the duration enforcement loop.</summary>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // The timer starts with the host, not when the thread pool first runs ExecuteAsync (.NET 10 runs
        // all of it there): ticks are then due at fixed times, which a fake clock in tests relies on.
        _durationTimer ??= new PeriodicTimer(DurationCheckInterval, time);
        return base.StartAsync(cancellationToken);
    }

    /// <summary>Duration enforcement loop.</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var timer = _durationTimer ?? throw new InvalidOperationException("StartAsync creates the duration timer.");
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = time.GetUtcNow();
                foreach (var r in _running.Values)
                {
                    LogEndedBursts(r, all: false);
                    if (now >= r.Deadline)
                    {
                        await StopCoreAsync(r, r.DeadlineIsRequested ? StopReason.Duration : StopReason.Limit,
                            r.DeadlineIsRequested
                                ? $"The requested duration passed before all its samples arrived ({r.Measurement.SampleCount} of {r.Measurement.TargetSamples})."
                                : "Duration limit reached.");
                    }
                }
                DeviceFaults.LogEndedBursts();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _durationTimer?.Dispose();
        base.Dispose();
    }

    /// <summary>Graceful shutdown: every running measurement is stopped and flushed.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await Task.WhenAll(_running.Values.Select(r => StopCoreAsync(r, StopReason.Shutdown, "Server shut down.")));
    }

    private string? Validate(UserLimits userLimits, StartRequest request, DeviceOptions? device, out IDeviceDriver? driver)
    {
        driver = null;
        if (device is null)
        {
            return $"Unknown device '{request.DeviceId}'.";
        }
        if (!_drivers.TryGetValue(device.Driver, out driver))
        {
            return $"Device '{device.Id}' uses driver '{device.Driver}', which is not available.";
        }
        // The same rule the API and the start dialog apply (StartRules), here with the user's limits.
        return StartRules.Check(request.Name, request.Channels, request.SampleRate, request.Duration, userLimits) is [var first, ..] ? first.Message : null;
    }

    // A requested duration is counted in samples (the measurement stops itself when they are in); the
    // clock is the backstop for a device that falls behind. The duration limit is wall time.
    private static (DateTimeOffset At, bool IsRequested) DeadlineOf(MeasurementInfo info, UserLimits userLimits)
    {
        if (info.Duration is { } d && d <= userLimits.MaxDuration)
        {
            var grace = TimeSpan.FromTicks(Math.Max(MinDurationGrace.Ticks, d.Ticks / 10));
            var backstop = d + grace < userLimits.MaxDuration ? d + grace : userLimits.MaxDuration;
            return (info.StartedAt + backstop, backstop < userLimits.MaxDuration || d == userLimits.MaxDuration);
        }
        return (info.StartedAt + userLimits.MaxDuration, false);
    }

    private static List<ChannelInfo> ChannelsOf(DeviceOptions device, int count) =>
        [.. Enumerable.Range(0, count).Select(i =>
        {
            var ch = device.Channels.Count == 0 ? null : device.Channels[i % device.Channels.Count];
            return new ChannelInfo(ch?.Name is { Length: > 0 } n && i < device.Channels.Count ? n : $"ch{i + 1}", ch?.Unit ?? "V");
        })];

    private async Task StopCoreAsync(Running running, StopReason reason, string? detail)
    {
        if (!running.Measurement.MarkStopped(reason, time.GetUtcNow(), detail))
        {
            await running.Stopped.Task;
            return;
        }
        try
        {
            // A stop that overtakes StartAsync waits until the device is started (or failed to): the
            // device must be stopped before the flush, or blocks could arrive after it.
            await running.DeviceReady.Task;
            if (running.Device is { } device)
            {
                // Still accepting: the device hands over what it had before the stop (the shared-memory
                // ring is drained up to the stop command), then the measurement is sealed.
                await device.DisposeAsync();
            }
            running.Measurement.Seal();
            hub.Close(running.Measurement.Id);
            await storeWriter.FlushAsync(running.Measurement.Id);
            LogEndedBursts(running, all: true);
            var info = running.Measurement.Snapshot();
            await storeWriter.SaveMeasurementAsync(info);
            logger.LogInformation("Measurement {Measurement} stopped ({Reason}) after {Samples} samples", info.Id, reason, info.SampleCount);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            logger.LogError(ex, "Stopping measurement {Measurement} did not complete cleanly", running.Measurement.Id);
        }
        finally
        {
            if (_running.TryRemove(running.Measurement.Id, out _))
            {
                accountant?.For(running.Measurement.OwnerId).MeasurementStopped();
            }
            await limits.ReleaseMeasurementSlotAsync(running.Measurement.OwnerId, CancellationToken.None);
            Notify(running.Measurement.Snapshot());
            running.Stopped.TrySetResult();
        }
    }

    // Samples and the time of the whole hand-off (stamp, storage queue, live decimation for every
    // watcher) are charged to the measurement's OWNER: the watchers' decimation is work their
    // measurement causes. What is charged is the wall time of this synchronous, non-blocking path
    // ("pipeline time"), not CPU time: two Stopwatch reads cost ~40 ns, a per-thread CPU clock would
    // need a syscall per block; a descheduled publisher thread is counted too.
    // It is real time on purpose, not the injected TimeProvider, which only schedules.
    private bool Publish(Running running, SampleBlock block)
    {
        if (accountant is null)
        {
            return PublishCore(running, block);
        }
        var started = Stopwatch.GetTimestamp();
        var samples = block.Count;
        var channels = block.ChannelCount;
        var accepted = PublishCore(running, block);
        var meter = accountant.For(running.Measurement.OwnerId);
        meter.AddPipelineTicks(Stopwatch.GetTimestamp() - started);
        if (accepted)
        {
            meter.AddSamples(samples, channels);
        }
        return accepted;
    }

    private bool PublishCore(Running running, SampleBlock block)
    {
        var stamped = running.Measurement.Stamp(block, out var complete);
        if (stamped is null)
        {
            block.Release();
            return false;
        }
        try
        {
            if (!storeWriter.TryEnqueue(stamped))
            {
                // Never drop stored data silently: the block is refused (not counted, the device is told)
                // and the measurement stops with a clear reason.
                running.Measurement.Unstamp(stamped);
                // Name the cause when the writer knows it (database down and spool disk full, database locked).
                _ = StopCoreAsync(running, StopReason.Limit, storeWriter.Fault is { } fault
                    ? $"Nothing could be stored: {fault}; the measurement was stopped to avoid losing data."
                    : "Storage could not keep up; the measurement was stopped to avoid losing data.");
                return false;
            }
            hub.Publish(stamped);
            if (complete)
            {
                // Not on the device's thread: the stop waits for the device to finish.
                _ = Task.Run(() => StopCoreAsync(running, StopReason.Duration, "Requested duration reached."));
            }
            return true;
        }
        finally
        {
            if (stamped != block)
            {
                stamped.Release();
            }
            block.Release();
        }
    }

    private void Fault(Running running, string kind, string message, long count)
    {
        var m = running.Measurement;
        DeviceFaults.Count(running.DeviceId, kind, count);
        if (m.Faults.Add(kind, count, message, time.GetTimestamp()))
        {
            NotifySoon(m);
        }
    }

    // A device-wide fault (overrun, producer restart …) may have cost every measurement on the device
    // data: each owner sees it counted; the device counts and logs it once.
    private void DeviceFault(Running running, string kind, string message, long count)
    {
        if (running.Measurement.Faults.Add(kind, count, message, time.GetTimestamp(), logged: false))
        {
            NotifySoon(running.Measurement);
        }
    }

    // Watchers (the owner's cards) hear of a new burst at once; not on the device's thread, which may hold a ring lock.
    private void NotifySoon(Measurement m) => ThreadPool.QueueUserWorkItem(static s => s.engine.Notify(s.m.Snapshot()), (engine: this, m), preferLocal: false);

    private void LogEndedBursts(Running running, bool all)
    {
        var bursts = running.Measurement.Faults.EndBursts(time.GetTimestamp(), time, all);
        foreach (var b in bursts)
        {
            logger.LogWarning("Measurement {Measurement}: {Kind} × {Count} in {Seconds:0.###} s ({Total} in all): {Message}",
                running.Measurement.Id, b.Kind, b.Count, b.Span.TotalSeconds, b.Total, b.LastMessage);
        }
        if (bursts.Count > 0 && !all)
        {
            // The card shows the burst's final count.
            Notify(running.Measurement.Snapshot());
        }
    }

    private void Notify(MeasurementInfo info)
    {
        if (_watchers.TryGetValue(info.OwnerId, out var w))
        {
            w.Invoke(info, logger);
        }
    }

    private sealed record DeadlineInfo(DateTimeOffset At, bool IsRequested);

    private sealed class Running(MeasurementEngine engine, Measurement measurement, DateTimeOffset deadline, bool deadlineIsRequested) : IBlockSink
    {
        public Measurement Measurement { get; } = measurement;

        public string DeviceId { get; } = measurement.Snapshot().DeviceId;
        // Replaced as a pair when an admin changes the user's duration limit (read by the duration loop).
        private DeadlineInfo _deadline = new(deadline, deadlineIsRequested);

        public DateTimeOffset Deadline => Volatile.Read(ref _deadline).At;
        public bool DeadlineIsRequested => Volatile.Read(ref _deadline).IsRequested;

        public void SetDeadline(DateTimeOffset value, bool isRequested) => Volatile.Write(ref _deadline, new DeadlineInfo(value, isRequested));
        public IAsyncDisposable? Device { get; set; }
        public TaskCompletionSource DeviceReady { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Stopped { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Publish(SampleBlock block) => engine.Publish(this, block);

        public void Fault(string kind, string message) => engine.Fault(this, kind, message, 1);

        public void Fault(string kind, string message, long count) => engine.Fault(this, kind, message, count);

        public void DeviceFault(string kind, string message, long count) => engine.DeviceFault(this, kind, message, count);

        public void Fail(string message) => _ = engine.StopCoreAsync(this, StopReason.DeviceError, message);
    }

    private sealed class UserWatchers
    {
        private readonly Lock _gate = new();
        private Action<MeasurementInfo>[] _callbacks = [];

        public IDisposable Add(Action<MeasurementInfo> callback)
        {
            lock (_gate)
            {
                _callbacks = [.. _callbacks, callback];
            }
            return new Unsubscriber(this, callback);
        }

        public void Invoke(MeasurementInfo info, ILogger logger)
        {
            foreach (var cb in Volatile.Read(ref _callbacks))
            {
                try
                {
                    cb(info);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    logger.LogWarning(ex, "A measurement watcher failed");
                }
            }
        }

        private void Remove(Action<MeasurementInfo> callback)
        {
            lock (_gate)
            {
                _callbacks = Array.FindAll(_callbacks, c => c != callback);
            }
        }

        private sealed class Unsubscriber(UserWatchers owner, Action<MeasurementInfo> callback) : IDisposable
        {
            public void Dispose() => owner.Remove(callback);
        }
    }
}
