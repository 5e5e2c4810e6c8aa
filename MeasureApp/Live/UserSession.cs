using MeasureApp.Acquisition.Accounting;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Identity;
using MeasureApp.Limits;
using MeasureApp.Relay;

namespace MeasureApp.Live;

/// <summary>Live numbers of one chart, shown as status chips.</summary>
/// <param name="FramesPerSecond">Chart updates per second.</param>
/// <param name="LatencyMs">Newest sample's age when its update completed in the browser.</param>
/// <param name="DroppedFrames">Frames the buffer dropped because this tab was slower.</param>
/// <param name="SamplesPerSecond">Raw samples per channel per second arriving.</param>
/// <param name="Throttled">Renders were held back in this period by the user's live bandwidth limit.</param>
public sealed record ChartStatus(double FramesPerSecond, double LatencyMs, long DroppedFrames, double SamplesPerSecond, bool Throttled = false);

/// <summary>
/// One browser tab's session (scoped to the Blazor circuit): its own subscriptions, display state
/// and drain loop. The loop runs at up to 60 Hz; each tick the charts queue their updates and the
/// tab's <see cref="LiveDrawBatch"/> sends them in one browser call, awaited before the next tick, so a
/// slow browser gets fewer, larger frames and never a growing queue. Over the user's live
/// bandwidth limit (<paramref name="bandwidth"/>) renders are skipped and frames merge. With the
/// relay (<paramref name="relay"/>, Redis configured) the user's measurements running on other
/// instances are listed and watched the same way.
/// </summary>
public sealed class UserSession(MeasurementEngine engine, LiveHub hub, LimitsService limits, CurrentUser currentUser, TimeProvider time, ILogger<UserSession> logger,
    ResourceAccountant? accountant = null, LiveBandwidthGovernor? bandwidth = null, LiveRelayClient? relay = null, MeasureApp.Monitoring.LiveLatencyStats? latencyStats = null,
    MeasureApp.Audit.AuditLog? audit = null, MeasureApp.History.MeasurementCatalog? catalog = null, MeasureApp.Sharing.ShareRevocations? revocations = null,
    LiveFrameBudget? budget = null) : IAsyncDisposable
{
    /// <summary>Most chart updates per second.</summary>
    public const int MaxFramesPerSecond = 60;

    /// <summary>
    /// How often a chart's numbers (fps, latency, dropped, samples/s) are reported. Once a second: every report is
    /// a render batch of its own, and at 2 Hz four charts made as many batches per tab as a 30 Hz chart makes frames
    /// (issue 14).
    /// </summary>
    public static readonly TimeSpan StatusInterval = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private List<Attachment> _attachments = [];
    private Task? _loop;
    private long _drainTicks;
    private long _drainIntervalTicks = TimeSpan.FromSeconds(1.0 / MaxFramesPerSecond).Ticks;

    private TimeProvider Time => time;

    private ResourceAccountant? Accountant => accountant;

    private LiveBandwidthGovernor? Bandwidth => bandwidth;

    private MeasureApp.Monitoring.LiveLatencyStats? LatencyStats => latencyStats;

    /// <summary>Whether the display is paused (recording goes on).</summary>
    public bool Paused { get; private set; }

    /// <summary>Visible time window of live charts.</summary>
    public TimeSpan Window { get; private set; } = TimeSpan.FromSeconds(10);

    /// <summary>Drain loop passes completed (tests step a fake clock tick by tick with it).</summary>
    internal long DrainTicks => Interlocked.Read(ref _drainTicks);

    /// <summary>The drain loop's tick interval now (1/60 s, longer while the server's frame budget is shared by many tabs).</summary>
    internal TimeSpan DrainInterval => TimeSpan.FromTicks(Interlocked.Read(ref _drainIntervalTicks));

    /// <summary>Whether the drain loop runs (only while a chart is attached: an idle tab runs no 60 Hz loop).</summary>
    internal bool IsDraining
    {
        get
        {
            lock (_gate)
            {
                return _loop is not null;
            }
        }
    }

    /// <summary>Raised when pause or window change, so controls and charts update.</summary>
    public event Action? DisplayChanged;

    /// <summary>Pauses or resumes this tab's display only.</summary>
    public void SetPaused(bool paused)
    {
        Paused = paused;
        DisplayChanged?.Invoke();
    }

    /// <summary>Sets the rolling window (1 s – 10 min) of this tab.</summary>
    public void SetWindow(TimeSpan window)
    {
        if (window < TimeSpan.FromSeconds(1) || window > TimeSpan.FromMinutes(10))
        {
            throw new ArgumentOutOfRangeException(nameof(window), window, "The window must be between 1 s and 10 min.");
        }
        Window = window;
        foreach (var a in Volatile.Read(ref _attachments))
        {
            a.Feed.ChangeView(new LiveView(a.Feed.View.PixelWidth, window));
        }
        DisplayChanged?.Invoke();
    }

    /// <summary>Starts a measurement for the logged-in user within their limits.</summary>
    public async Task<StartResult> StartAsync(StartRequest request, CancellationToken cancellationToken)
    {
        var me = await currentUser.GetAsync();
        var userLimits = await limits.GetAsync(me.UserId, cancellationToken);
        var result = await engine.StartAsync(me, userLimits, request, cancellationToken);
        await MeasureApp.Audit.AuditLog.StartedAsync(audit, me, result.Measurement);
        return result;
    }

    /// <summary>Stops a measurement of the user (admins: any), also one running on another instance; false = not stopped.</summary>
    public async Task<bool> StopAsync(Guid measurementId, CancellationToken cancellationToken) =>
        await StopMeasurementAsync(measurementId, cancellationToken) == StopOutcome.Stopped;

    /// <summary>
    /// Stops a measurement of the user (admins: any) wherever it runs: stopped, not found (also
    /// another user's id), or the instance running it did not answer (<see cref="MeasurementStopping.Describe"/>).
    /// </summary>
    public async Task<StopOutcome> StopMeasurementAsync(Guid measurementId, CancellationToken cancellationToken) =>
        await engine.StopAnywhereAsync(relay, measurementId, await currentUser.GetAsync(), cancellationToken, audit);

    /// <summary>The user's running measurements, on this instance and (with the relay) on the others.</summary>
    public async Task<IReadOnlyList<MeasurementInfo>> GetRunningAsync()
    {
        var me = await currentUser.GetAsync();
        var local = engine.GetRunning(me);
        if (relay is null)
        {
            return local;
        }
        IReadOnlyList<MeasurementInfo> remote;
        try
        {
            remote = await relay.ListRunningAsync(me, _stop.Token);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            // Other instances' measurements are a bonus; this instance's list stands on its own.
            logger.LogWarning(ex, "Could not list measurements running on other instances");
            return local;
        }
        return [.. local.Concat(remote.Where(r => local.All(l => l.Id != r.Id))).OrderBy(m => m.StartedAt)];
    }

    /// <summary>Watches the user's measurements starting and stopping (with the relay: on any instance, within seconds).</summary>
    public async Task<IDisposable> WatchAsync(Action<MeasurementInfo> onChange)
    {
        var me = await currentUser.GetAsync();
        var local = engine.Watch(me.UserId, onChange);
        return relay is null ? local : new Both(local, relay.WatchRunning(me with { IsAdmin = false }, onChange));
    }

    /// <summary>
    /// Connects a chart to a running measurement. <paramref name="render"/> is awaited for every
    /// update; <paramref name="status"/> gets the chart's numbers once per <see cref="StatusInterval"/>. Null when
    /// the measurement is not running or not the user's. A measurement running on another instance
    /// is relayed (when Redis is configured). When <paramref name="render"/> or <paramref name="status"/>
    /// throws, that chart alone is detached and <paramref name="fault"/> gets the exception; the tab's
    /// other charts keep drawing.
    /// </summary>
    public async Task<IDisposable?> AttachAsync(Guid measurementId, int pixelWidth, Func<LiveFrame, Task> render, Action<ChartStatus> status, Action<Exception>? fault = null)
    {
        var me = await currentUser.GetAsync();
        var view = new LiveView(pixelWidth, Window);
        var shared = false;
        ILiveFeed? feed = hub.Subscribe(measurementId, me, view);
        if (feed is null && await SharedWithMeAsync(me, measurementId))
        {
            // Read through a share: the catalog (the one access rule) said yes, so the engine gets the trusted
            // per-user call; the subscription is the reader's own and ends when the share is revoked.
            shared = true;
            feed = hub.SubscribeFor(me.UserId, measurementId, view);
        }
        feed ??= await WatchElsewhereAsync(me, measurementId, view, shared);
        if (feed is null)
        {
            return null;
        }
        var attachment = new Attachment(this, feed, render, status, fault, time.GetTimestamp());
        lock (_gate)
        {
            _attachments = [.. _attachments, attachment];
            // Started with the first chart, ended by the loop itself when the last one detaches.
            _loop ??= DrainLoopAsync(_stop.Token);
        }
        if (shared && revocations is not null)
        {
            attachment.Revocation = revocations.Watch(measurementId, me.UserId, () =>
            {
                attachment.Dispose();
                attachment.Fault?.Invoke(new MeasureApp.Sharing.AccessRevokedException());
            });
            // A revoke between the check above and the watch would be missed: ask once more now that it watches.
            if (!await SharedWithMeAsync(me, measurementId))
            {
                attachment.Dispose();
                return null;
            }
        }
        return attachment;
    }

    // Whether the measurement is readable by the requester only through a share (owner and admins subscribe directly).
    private async Task<bool> SharedWithMeAsync(Requester me, Guid measurementId)
    {
        if (catalog is null)
        {
            return false;
        }
        try
        {
            return await catalog.FindWithAccessAsync(me, measurementId, _stop.Token) is { IsReadOnly: true };
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            // Without the database no share can be confirmed: not found for now, not a broken page.
            logger.LogWarning(ex, "Could not check the shares of measurement {Measurement}", measurementId);
            return false;
        }
    }

    private async Task<ILiveFeed?> WatchElsewhereAsync(Requester me, Guid measurementId, LiveView view, bool accessChecked)
    {
        if (relay is null)
        {
            return null;
        }
        try
        {
            return await relay.WatchAsync(me, measurementId, view, _stop.Token, accessChecked);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            // The database being away makes a remote measurement "not found" for now, not a broken page.
            logger.LogWarning(ex, "Could not look up measurement {Measurement} on other instances", measurementId);
            return null;
        }
    }

    private void Detach(Attachment attachment)
    {
        lock (_gate)
        {
            _attachments = _attachments.FindAll(a => !ReferenceEquals(a, attachment));
        }
        attachment.Feed.Dispose();
    }

    private async Task DrainLoopAsync(CancellationToken ct)
    {
        // The tab counts against the server's frame budget while its loop runs; the interval follows the budget.
        using var member = budget?.Join();
        var first = budget?.Interval ?? DrainInterval;
        using var timer = new PeriodicTimer(first, time);
        Interlocked.Exchange(ref _drainIntervalTicks, first.Ticks);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                if (budget?.Interval is { } interval && interval != timer.Period)
                {
                    timer.Period = interval;
                    Interlocked.Exchange(ref _drainIntervalTicks, interval.Ticks);
                }
                List<Attachment> attachments;
                lock (_gate)
                {
                    attachments = _attachments;
                    if (attachments.Count == 0)
                    {
                        _loop = null;
                        return;
                    }
                }
                foreach (var a in attachments)
                {
                    await DrainOneAsync(a, ct);
                }
                await FlushAsync(ct);
                Interlocked.Increment(ref _drainTicks);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Circuit closed.
        }
    }

    /// <summary>
    /// Runs after every drain tick, once each chart had its turn: <see cref="LiveDrawBatch"/> draws the
    /// frames the charts queued with one browser call for the tab.
    /// </summary>
    public Func<CancellationToken, Task>? AfterDrain { get; set; }

    private async Task FlushAsync(CancellationToken ct)
    {
        if (AfterDrain is not { } flush)
        {
            return;
        }
        try
        {
            await flush(ct);
        }
        catch (Microsoft.JSInterop.JSDisconnectedException ex)
        {
            // The browser went away; the circuit (and this session) ends with it.
            logger.LogDebug(ex, "The tab's live charts lost their browser");
        }
    }

    // One chart's failure is that chart's: it is detached and told, the others keep drawing.
    private async Task DrainOneAsync(Attachment attachment, CancellationToken ct)
    {
        try
        {
            await attachment.DrainAsync(Paused, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            if (ex is Microsoft.JSInterop.JSDisconnectedException)
            {
                // The browser went away; the circuit (and this session) ends with it.
                logger.LogDebug(ex, "Live chart of measurement {Measurement} lost its browser", attachment.Feed.Info.Id);
            }
            else
            {
                logger.LogWarning(ex, "Live chart of measurement {Measurement} failed and was detached", attachment.Feed.Info.Id);
            }
            attachment.Dispose();
            attachment.Fault?.Invoke(ex);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            await _loop;
        }
        foreach (var a in _attachments)
        {
            a.Feed.Dispose();
        }
        _stop.Dispose();
    }

    private sealed class Both(IDisposable first, IDisposable second) : IDisposable
    {
        public void Dispose()
        {
            first.Dispose();
            second.Dispose();
        }
    }

    private sealed class Attachment(UserSession session, ILiveFeed feed, Func<LiveFrame, Task> render, Action<ChartStatus> status, Action<Exception>? fault, long startTicks) : IDisposable
    {
        private int _detached;

        private long _windowStart = startTicks;
        private int _framesInWindow;
        private long _samplesAtWindowStart;
        private double _lastLatencyMs;
        private bool _throttledInWindow;
        // Frames taken from the buffer but not rendered yet (held back by the bandwidth limit).
        private LiveFrame? _pending;

        public ILiveFeed Feed { get; } = feed;

        public Action<Exception>? Fault { get; } = fault;

        /// <summary>The share watch of a shared reader's chart; ended with the chart.</summary>
        public IDisposable? Revocation { get; set; }

        public async Task DrainAsync(bool paused, CancellationToken ct)
        {
            while (Feed.Frames.TryRead(out var frame))
            {
                if (_pending is null)
                {
                    _pending = frame;
                    continue;
                }
                _pending.Append(frame);
            }
            if (_pending is not null)
            {
                if (paused)
                {
                    _pending = null;
                }
                else if (session.Bandwidth is { } governor && !await governor.TryRenderAsync(Feed.UserId, ct))
                {
                    // Over budget: no render this tick. What waits is cut to the visible window, so it
                    // stays bounded however long the limit holds it back.
                    _throttledInWindow = true;
                    TrimToWindow(_pending, Feed.View.Window);
                }
                else
                {
                    var merged = _pending;
                    _pending = null;
                    ct.ThrowIfCancellationRequested();
                    await render(merged);
                    // Charged to the subscriber (the tab's user, not the measurement owner) after the
                    // render went through; the size is TrafficEstimate's per-point estimate, not a count
                    // of bytes on the wire.
                    var bytes = TrafficEstimate.BrowserBytes(merged);
                    session.Accountant?.AddBytesToBrowser(Feed.UserId, bytes);
                    session.Bandwidth?.Charge(Feed.UserId, bytes);
                    _framesInWindow++;
                    var nowNs = session.Time.GetUtcNow().ToUnixTimeMilliseconds() * 1_000_000;
                    _lastLatencyMs = (nowNs - merged.NewestSampleNs) / 1e6;
                    session.LatencyStats?.Record(_lastLatencyMs);
                }
            }
            var elapsed = session.Time.GetElapsedTime(_windowStart);
            if (elapsed >= StatusInterval)
            {
                var samples = Feed.SamplesSeen;
                status(new ChartStatus(_framesInWindow / elapsed.TotalSeconds, _lastLatencyMs, Feed.DroppedFrames, (samples - _samplesAtWindowStart) / elapsed.TotalSeconds, _throttledInWindow));
                _framesInWindow = 0;
                _throttledInWindow = false;
                _samplesAtWindowStart = samples;
                _windowStart = session.Time.GetTimestamp();
            }
        }

        private static void TrimToWindow(LiveFrame frame, TimeSpan window)
        {
            for (var c = 0; c < frame.X.Length; c++)
            {
                var xs = frame.X[c];
                if (xs.Count == 0)
                {
                    continue;
                }
                var cutoff = xs[^1] - window.TotalSeconds;
                var keepFrom = xs.FindIndex(x => x >= cutoff);
                if (keepFrom > 0)
                {
                    xs.RemoveRange(0, keepFrom);
                    frame.Y[c].RemoveRange(0, keepFrom);
                }
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _detached, 1) == 0)
            {
                Revocation?.Dispose();
                session.Detach(this);
            }
        }
    }
}
