using MeasureApp.Acquisition.Accounting;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Identity;
using MeasureApp.Limits;

namespace MeasureApp.Live;

/// <summary>Live numbers of one chart, shown as status chips.</summary>
/// <param name="FramesPerSecond">Chart updates per second.</param>
/// <param name="LatencyMs">Newest sample's age when its update completed in the browser.</param>
/// <param name="DroppedFrames">Frames the buffer dropped because this tab was slower.</param>
/// <param name="SamplesPerSecond">Raw samples per channel per second arriving.</param>
public sealed record ChartStatus(double FramesPerSecond, double LatencyMs, long DroppedFrames, double SamplesPerSecond);

/// <summary>
/// One browser tab's session (scoped to the Blazor circuit): its own subscriptions, display state
/// and drain loop. The loop runs at up to 60 Hz and awaits each chart's update before sending the
/// next, so a slow browser gets fewer, larger frames and never a growing queue.
/// </summary>
public sealed class UserSession(MeasurementEngine engine, LiveHub hub, LimitsService limits, CurrentUser currentUser, TimeProvider time, ILogger<UserSession> logger, ResourceAccountant? accountant = null) : IAsyncDisposable
{
    /// <summary>Most chart updates per second.</summary>
    public const int MaxFramesPerSecond = 60;

    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private List<Attachment> _attachments = [];
    private Task? _loop;

    private TimeProvider Time => time;

    private ResourceAccountant? Accountant => accountant;

    /// <summary>Whether the display is paused (recording goes on).</summary>
    public bool Paused { get; private set; }

    /// <summary>Visible time window of live charts.</summary>
    public TimeSpan Window { get; private set; } = TimeSpan.FromSeconds(10);

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
            a.Subscription.ChangeView(new LiveView(a.Subscription.View.PixelWidth, window));
        }
        DisplayChanged?.Invoke();
    }

    /// <summary>Starts a measurement for the logged-in user within their limits.</summary>
    public async Task<StartResult> StartAsync(StartRequest request, CancellationToken cancellationToken)
    {
        var me = await currentUser.GetAsync();
        var userLimits = await limits.GetAsync(me.UserId, cancellationToken);
        return await engine.StartAsync(me, userLimits, request, cancellationToken);
    }

    /// <summary>Stops a measurement of the user (admins: any); false = not found.</summary>
    public async Task<bool> StopAsync(Guid measurementId, CancellationToken cancellationToken) =>
        await engine.StopAsync(measurementId, await currentUser.GetAsync(), cancellationToken);

    /// <summary>The user's running measurements.</summary>
    public async Task<IReadOnlyList<MeasurementInfo>> GetRunningAsync() => engine.GetRunning(await currentUser.GetAsync());

    /// <summary>Watches the user's measurements starting and stopping.</summary>
    public async Task<IDisposable> WatchAsync(Action<MeasurementInfo> onChange) =>
        engine.Watch((await currentUser.GetAsync()).UserId, onChange);

    /// <summary>
    /// Connects a chart to a running measurement. <paramref name="render"/> is awaited for every
    /// update; <paramref name="status"/> gets the chart's numbers about twice a second. Null when
    /// the measurement is not running or not the user's.
    /// </summary>
    public async Task<IDisposable?> AttachAsync(Guid measurementId, int pixelWidth, Func<LiveFrame, Task> render, Action<ChartStatus> status)
    {
        var subscription = hub.Subscribe(measurementId, await currentUser.GetAsync(), new LiveView(pixelWidth, Window));
        if (subscription is null)
        {
            return null;
        }
        var attachment = new Attachment(this, subscription, render, status, time.GetTimestamp());
        lock (_gate)
        {
            _attachments = [.. _attachments, attachment];
            _loop ??= DrainLoopAsync(_stop.Token);
        }
        return attachment;
    }

    private void Detach(Attachment attachment)
    {
        lock (_gate)
        {
            _attachments = _attachments.FindAll(a => !ReferenceEquals(a, attachment));
        }
        attachment.Subscription.Dispose();
    }

    private async Task DrainLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1.0 / MaxFramesPerSecond), time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                foreach (var a in Volatile.Read(ref _attachments))
                {
                    await a.DrainAsync(Paused, ct);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Circuit closed.
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A disconnected circuit makes the JS call fail; the session ends with it.
            logger.LogDebug(ex, "Live drain loop ended");
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
            a.Subscription.Dispose();
        }
        _stop.Dispose();
    }

    private sealed class Attachment(UserSession session, LiveSubscription subscription, Func<LiveFrame, Task> render, Action<ChartStatus> status, long startTicks) : IDisposable
    {
        private long _windowStart = startTicks;
        private int _framesInWindow;
        private long _samplesAtWindowStart;
        private double _lastLatencyMs;

        public LiveSubscription Subscription { get; } = subscription;

        public async Task DrainAsync(bool paused, CancellationToken ct)
        {
            LiveFrame? merged = null;
            while (Subscription.Frames.TryRead(out var frame))
            {
                if (merged is null)
                {
                    merged = frame;
                    continue;
                }
                merged.Append(frame);
            }
            if (merged is not null)
            {
                if (!paused)
                {
                    ct.ThrowIfCancellationRequested();
                    await render(merged);
                    // Charged to the subscriber (the tab's user, not the measurement owner) after the
                    // render went through; the size is TrafficEstimate's per-point estimate, not a count
                    // of bytes on the wire.
                    session.Accountant?.AddBytesToBrowser(Subscription.UserId, TrafficEstimate.BrowserBytes(merged));
                    _framesInWindow++;
                    var nowNs = session.Time.GetUtcNow().ToUnixTimeMilliseconds() * 1_000_000;
                    _lastLatencyMs = (nowNs - merged.NewestSampleNs) / 1e6;
                }
            }
            var elapsed = session.Time.GetElapsedTime(_windowStart);
            if (elapsed >= TimeSpan.FromMilliseconds(500))
            {
                var samples = Subscription.SamplesSeen;
                status(new ChartStatus(_framesInWindow / elapsed.TotalSeconds, _lastLatencyMs, Subscription.DroppedFrames, (samples - _samplesAtWindowStart) / elapsed.TotalSeconds));
                _framesInWindow = 0;
                _samplesAtWindowStart = samples;
                _windowStart = session.Time.GetTimestamp();
            }
        }

        public void Dispose() => session.Detach(this);
    }
}
