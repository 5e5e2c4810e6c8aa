using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.History;
using MeasureApp.Identity;

namespace MeasureApp.Live;

/// <summary>What the tab plays: a stored measurement (REPLAY) or a private generator (SIMULATION).</summary>
/// <param name="Name">Shown above the chart.</param>
/// <param name="Channels">Channel names and units.</param>
/// <param name="SampleRate">Samples per second per channel.</param>
/// <param name="TotalSamples">Samples per channel available; null for an endless simulation.</param>
/// <param name="MeasurementId">The stored measurement; null for a simulation.</param>
/// <param name="Times">The stored measurement's time line (samples play at their own stored times, gaps as gaps); null for a simulation.</param>
public sealed record PlaybackSource(string Name, IReadOnlyList<ChannelInfo> Channels, double SampleRate, long? TotalSamples, Guid? MeasurementId, SampleRuns? Times = null)
{
    /// <summary>Length in seconds (gaps included); null when endless.</summary>
    public double? DurationSeconds => Times is { } t && TotalSamples is { } n ? t.SecondsOf(n) : TotalSamples / SampleRate;

    /// <summary>The index just after the last sample at or before <paramref name="seconds"/>.</summary>
    public long IndexAt(double seconds) => Times?.EndAtOrBefore(seconds) ?? (long)(seconds * SampleRate);
}

/// <summary>
/// One tab's REPLAY / SIMULATION player (scoped to the circuit, like <see cref="UserSession"/>): its
/// own <see cref="ReplayClock"/>, its own source and one chart. A loop at up to 60 Hz reads the samples
/// between the last frame and the clock's position, decimates them with the live path's M4 (first, min,
/// max, last per pixel column) and awaits the chart's update before the next one. Nothing here touches the engine, and a simulation is never stored.
/// </summary>
public sealed class TabPlayback(ISampleStore store, MeasurementCatalog catalog, CurrentUser currentUser, TimeProvider time, ILogger<TabPlayback> logger,
    SimulationAdmission? simulations = null, MeasureApp.Sharing.ShareRevocations? revocations = null) : IAsyncDisposable
{
    /// <summary>Time span one chart shows; decides the column size.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    /// <summary>How often <see cref="Changed"/> is raised while playing, so that a shown position moves (a label needs no more).</summary>
    public static readonly TimeSpan PositionInterval = TimeSpan.FromMilliseconds(250);

    // Caps one simulated block so a long stall can never allocate without bound.
    private const int MaxSamplesPerStep = 1 << 20;

    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly ReplayClock _clock = new(time);
    private DeviceOptions? _simDevice;
    private SimulationLease? _simLease;
    private long _nextIndex;
    private Renderer? _renderer;
    private Task? _loop;
    // Raises Changed while playing; stopped while paused. The tab's components only subscribe.
    private ITimer? _positionTimer;
    // A replay read through a share ends when the share is revoked.
    private IDisposable? _revocation;

    /// <summary>The loaded source, or null.</summary>
    public PlaybackSource? Source { get; private set; }

    /// <summary>Why the last replay ended by itself (its share was revoked); null otherwise. Cleared by the next source.</summary>
    public string? Notice { get; private set; }

    /// <summary>Bumped whenever the chart must start empty (new source, seek).</summary>
    public int Generation { get; private set; }

    /// <summary>Playback speed.</summary>
    public double Speed { get { lock (_gate) { return _clock.Speed; } } }

    /// <summary>Whether playback is paused.</summary>
    public bool Paused { get { lock (_gate) { return _clock.Paused; } } }

    /// <summary>Clock position in measurement seconds (clipped to the end of a stored measurement).</summary>
    public double Position
    {
        get
        {
            lock (_gate)
            {
                var p = _clock.Position;
                return Source?.DurationSeconds is { } d ? Math.Min(p, d) : p;
            }
        }
    }

    /// <summary>
    /// Raised when source, pause, speed or position change by the user (or the end is reached), and every
    /// <see cref="PositionInterval"/> while playing. May come from a timer thread: subscribers dispatch.
    /// </summary>
    public event Action? Changed;

    /// <summary>Loads a stored measurement of the logged-in user (admins: any) paused at 0; false = not found.</summary>
    public async Task<bool> LoadReplayAsync(Guid measurementId, CancellationToken cancellationToken) =>
        await LoadReplayAsync(await currentUser.GetAsync(), measurementId, cancellationToken);

    /// <summary>Loads a stored measurement <paramref name="requester"/> may see, paused at 0; false = not found.</summary>
    public async Task<bool> LoadReplayAsync(Requester requester, Guid measurementId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        var access = await catalog.FindWithAccessAsync(requester, measurementId, cancellationToken);
        if (access?.Record is not { } record || record.DataExpired || record.SampleRate <= 0)
        {
            return false;
        }
        var times = await store.ReadRunsAsync(record.Id, record.SampleRate, cancellationToken);
        var source = new PlaybackSource(record.Name, HistoryService.Channels(record), record.SampleRate, Math.Min(record.SampleCount, times.EndIndex), record.Id, times);
        SetSource(source, null);
        if (access.IsReadOnly && revocations is not null)
        {
            var watch = revocations.Watch(record.Id, requester.UserId, () => EndRevoked(source));
            Interlocked.Exchange(ref _revocation, watch)?.Dispose();
            // A revoke between the check and the watch would be missed: ask once more.
            if (await catalog.FindReadableAsync(requester, measurementId, cancellationToken) is null)
            {
                EndRevoked(source);
                return false;
            }
        }
        return true;
    }

    /// <summary>Starts a private simulation for the logged-in user; returns why it was refused, or null.</summary>
    public async Task<string?> StartSimulationAsync(DeviceOptions device, int channels, double sampleRate, CancellationToken cancellationToken) =>
        await StartSimulationAsync(await currentUser.GetAsync(), device, channels, sampleRate, cancellationToken);

    /// <summary>
    /// Starts a private simulation of <paramref name="device"/>'s signal model, playing from 0, within
    /// <paramref name="requester"/>'s limits (rate, channels, and as many at once as parallel
    /// measurements); its samples and pipeline time are accounted to the requester like a measurement's.
    /// Returns why it was refused, or null.
    /// </summary>
    public async Task<string?> StartSimulationAsync(Requester requester, DeviceOptions device, int channels, double sampleRate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(simulations, nameof(simulations));
        var (lease, error) = await simulations.AdmitAsync(requester, channels, sampleRate, cancellationToken);
        if (lease is null)
        {
            return error;
        }
        SimulationLease? previous;
        lock (_gate)
        {
            previous = _simLease;
            _simLease = lease;
        }
        previous?.Dispose();
        StartSimulation(device, channels, sampleRate);
        return null;
    }

    private void StartSimulation(DeviceOptions device, int channels, double sampleRate)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(channels, 8);
        if (!double.IsFinite(sampleRate) || sampleRate <= 0 || sampleRate > 1_000_000)
        {
            throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, "The sample rate must be between 0 and 1 MHz.");
        }
        var names = Enumerable.Range(0, channels).Select(c => device.Channels.Count > 0
            ? new ChannelInfo(device.Channels[c % device.Channels.Count].Name ?? $"ch{c + 1}", device.Channels[c % device.Channels.Count].Unit)
            : new ChannelInfo($"ch{c + 1}", "V")).ToList();
        SetSource(new PlaybackSource($"Simulation · {device.Name ?? device.Id}", names, sampleRate, null, null), device);
        Play();
    }

    // The share was revoked: the replay stops at once (no further reads) and the tab says why.
    private void EndRevoked(PlaybackSource source)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(Source, source))
            {
                return;
            }
        }
        Clear();
        Notice = MeasureApp.Sharing.AccessRevokedException.Notice;
        Changed?.Invoke();
    }

    /// <summary>Unloads the source (leaving REPLAY / SIMULATION).</summary>
    public void Clear()
    {
        Interlocked.Exchange(ref _revocation, null)?.Dispose();
        lock (_gate)
        {
            Source = null;
            _simDevice = null;
            _simLease?.Dispose();
            _simLease = null;
            _clock.Pause();
            _clock.Seek(0);
            Generation++;
        }
        Changed?.Invoke();
    }

    /// <summary>Plays from the current position (from 0 again when at the end).</summary>
    public void Play()
    {
        lock (_gate)
        {
            if (Source?.DurationSeconds is { } d && _clock.Position >= d)
            {
                SeekLocked(0);
            }
            _clock.Resume();
            _positionTimer ??= time.CreateTimer(_ => OnPositionTick(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _positionTimer.Change(PositionInterval, PositionInterval);
        }
        Changed?.Invoke();
    }

    // The clock moved by itself: subscribers show the new position. A paused or cleared player stops its ticks.
    private void OnPositionTick()
    {
        lock (_gate)
        {
            if (Source is null || _clock.Paused)
            {
                _positionTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                return;
            }
        }
        try
        {
            Changed?.Invoke();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A timer thread has nobody above it: a subscriber's failure is logged, the ticks go on.
            logger.LogWarning(ex, "A playback position subscriber failed");
        }
    }

    /// <summary>Pauses this tab's playback only.</summary>
    public void Pause()
    {
        lock (_gate)
        {
            _clock.Pause();
        }
        Changed?.Invoke();
    }

    /// <summary>Sets this tab's speed (0.1 – 100).</summary>
    public void SetSpeed(double speed)
    {
        lock (_gate)
        {
            _clock.SetSpeed(speed);
        }
        Changed?.Invoke();
    }

    /// <summary>Jumps to <paramref name="seconds"/>; the chart restarts with the window before it.</summary>
    public void Seek(double seconds)
    {
        lock (_gate)
        {
            var d = Source?.DurationSeconds ?? double.MaxValue;
            SeekLocked(Math.Clamp(seconds, 0, d));
        }
        Changed?.Invoke();
    }

    private void SeekLocked(double seconds)
    {
        _clock.Seek(seconds);
        Generation++;
    }

    private void SetSource(PlaybackSource source, DeviceOptions? simDevice)
    {
        Interlocked.Exchange(ref _revocation, null)?.Dispose();
        lock (_gate)
        {
            Notice = null;
            Source = source;
            _simDevice = simDevice;
            if (simDevice is null)
            {
                // A replay frees this tab's simulation slot.
                _simLease?.Dispose();
                _simLease = null;
            }
            _clock.Pause();
            _clock.SetSpeed(1);
            SeekLocked(0);
        }
        Changed?.Invoke();
    }

    /// <summary>
    /// Connects the tab's chart; frames start with the window before the current position.
    /// Only the newest chart is fed; disposing an older one does nothing.
    /// </summary>
    public IDisposable Attach(int pixelWidth, Func<LiveFrame, Task> render)
    {
        ArgumentNullException.ThrowIfNull(render);
        var renderer = new Renderer(this, Math.Max(1, pixelWidth), render);
        lock (_gate)
        {
            _renderer = renderer;
            if (Source is { } s)
            {
                _nextIndex = Math.Max(0, s.IndexAt(_clock.Position - Window.TotalSeconds));
            }
            _loop ??= LoopAsync(_stop.Token);
        }
        return renderer;
    }

    /// <summary>
    /// The frame covering everything from the previous step up to the clock's position, or null when
    /// nothing new is due. Public so that tests can step the player without a browser.
    /// </summary>
    public async Task<LiveFrame?> NextFrameAsync(int pixelWidth, CancellationToken cancellationToken)
    {
        PlaybackSource? source;
        DeviceOptions? device;
        long from;
        long to;
        long perColumn;
        var reachedEnd = false;
        lock (_gate)
        {
            source = Source;
            device = _simDevice;
            if (source is null)
            {
                return null;
            }
            perColumn = Math.Max(1, (long)(Window.TotalSeconds * source.SampleRate / Math.Max(1, pixelWidth)));
            // Whole columns only, so a column is never split over two frames (except the last one).
            var position = _clock.Position;
            var target = source.IndexAt(position) / perColumn * perColumn;
            if (source.TotalSamples is { } total && source.DurationSeconds is { } duration && (source.Times is null ? source.IndexAt(position) >= total : position >= duration))
            {
                target = total;
                // The window ends at the last sample, not at a clock that ran past it.
                position = Math.Min(position, duration);
                reachedEnd = !_clock.Paused;
                if (reachedEnd)
                {
                    _clock.Pause();
                    _clock.Seek(duration);
                }
            }
            // After a long stall only the visible window is worth sending.
            var windowStart = source.Times is null ? target - (long)(Window.TotalSeconds * source.SampleRate) : source.IndexAt(position - Window.TotalSeconds);
            from = Math.Max(_nextIndex, windowStart / perColumn * perColumn);
            to = target;
            if (to > from)
            {
                _nextIndex = to;
            }
        }
        if (reachedEnd)
        {
            Changed?.Invoke();
        }
        if (to <= from)
        {
            return null;
        }
        var grid = new M4Columns(source.Channels.Count == 0 ? 1 : source.Channels.Count, perColumn, source.SampleRate, source.Times, from - 1);
        if (device is not null)
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            for (var at = from; at < to; at += MaxSamplesPerStep)
            {
                var count = (int)Math.Min(MaxSamplesPerStep, to - at);
                var block = SimulatedDriver.CreateBlock(device, grid.Channels, source.SampleRate, at, count, 0);
                try
                {
                    for (var c = 0; c < grid.Channels; c++)
                    {
                        grid.Add(c, at, block.Channel(c));
                    }
                }
                finally
                {
                    block.Release();
                }
            }
            Volatile.Read(ref _simLease)?.Account(to - from, grid.Channels, System.Diagnostics.Stopwatch.GetTimestamp() - started);
        }
        else
        {
            await foreach (var segment in store.ReadRawAsync(source.MeasurementId!.Value, from, to, null, cancellationToken))
            {
                for (var k = 0; k < Math.Min(grid.Channels, segment.Channels.Count); k++)
                {
                    grid.Add(k, segment.FirstIndex, segment.Channel(k));
                }
            }
        }
        return grid.ToFrame();
    }

    private async Task LoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1.0 / UserSession.MaxFramesPerSecond), time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var renderer = Volatile.Read(ref _renderer);
                if (renderer is null)
                {
                    continue;
                }
                var frame = await NextFrameAsync(renderer.PixelWidth, ct);
                if (frame is not null && frame.PointCount > 0)
                {
                    ct.ThrowIfCancellationRequested();
                    await renderer.Render(frame);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Circuit closed.
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A disconnected circuit makes the JS call fail; the player ends with it.
            logger.LogDebug(ex, "Playback loop ended");
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
        _stop.Dispose();
        _positionTimer?.Dispose();
        _simLease?.Dispose();
        _revocation?.Dispose();
    }

    private sealed class Renderer(TabPlayback owner, int pixelWidth, Func<LiveFrame, Task> render) : IDisposable
    {
        public int PixelWidth { get; } = pixelWidth;

        public Func<LiveFrame, Task> Render { get; } = render;

        public void Dispose()
        {
            lock (owner._gate)
            {
                if (ReferenceEquals(owner._renderer, this))
                {
                    owner._renderer = null;
                }
            }
        }
    }

    /// <summary>
    /// The live path's M4 per channel (<see cref="M4Accumulator"/>: first, min, max and last of every
    /// column of <c>perColumn</c> samples, aligned to absolute sample indices), so a replay draws what the
    /// live chart drew. With a time line every point lies at its sample's stored time, a column never spans
    /// a gap, and a NaN point (drawn as a break) marks the gap.
    /// </summary>
    private sealed class M4Columns
    {
        private readonly LiveFrame _frame;
        private readonly M4Accumulator[] _accumulators;
        private readonly double _sampleRate;
        private readonly SampleRuns? _times;
        // The last sample seen per channel; the previous frame's last one to begin with, so a gap at a frame boundary breaks too.
        private readonly long[] _last;

        public M4Columns(int channels, long perColumn, double sampleRate, SampleRuns? times, long previousIndex)
        {
            _frame = new LiveFrame(channels);
            _sampleRate = sampleRate;
            _times = times;
            _accumulators = [.. Enumerable.Range(0, channels).Select(_ => new M4Accumulator(perColumn, times is null ? null : times.SecondsOf))];
            _last = [.. Enumerable.Repeat(previousIndex, channels)];
        }

        public int Channels => _accumulators.Length;

        public void Add(int channel, long firstIndex, ReadOnlySpan<float> values)
        {
            var accumulator = _accumulators[channel];
            if (_times is not null && _last[channel] >= 0 && _times.GapBetween(_last[channel], firstIndex))
            {
                // The column before the gap ends at its last sample; the next one starts after the gap.
                accumulator.Flush(_sampleRate, _frame.X[channel], _frame.Y[channel]);
                _frame.X[channel].Add(_times.SecondsOf(_last[channel]) + (0.5 / _sampleRate));
                _frame.Y[channel].Add(float.NaN);
            }
            accumulator.Add(values, firstIndex, _sampleRate, _frame.X[channel], _frame.Y[channel]);
            if (values.Length > 0)
            {
                _last[channel] = firstIndex + values.Length - 1;
            }
        }

        public LiveFrame ToFrame()
        {
            for (var c = 0; c < _accumulators.Length; c++)
            {
                _accumulators[c].Flush(_sampleRate, _frame.X[c], _frame.Y[c]);
            }
            return _frame;
        }
    }
}
