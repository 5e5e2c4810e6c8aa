namespace MeasureApp.Live;

/// <summary>
/// The one frame tick every live tab on this server draws on (issue 14). A timer per tab meant one
/// timer-queue operation per tab per frame (6,000 a second for 100 tabs at 60 Hz), all contending for
/// the runtime's timer-queue lock with the acquisition's own timers; one shared timer wakes every tab
/// waiting for the next frame at once. The timer runs only while some tab waits: a server without live
/// charts keeps no 60 Hz timer. Holds no user's data — only the shared tick.
/// </summary>
public sealed class FrameClock : IDisposable
{
    private readonly TimeProvider _time;
    private readonly TimeSpan _period;
    private readonly Lock _gate = new();
    private TaskCompletionSource _next = NewTick();
    private ITimer? _timer;
    private bool _awaited;
    private long _ticks;

    /// <summary>A clock ticking <paramref name="framesPerSecond"/> times a second on <paramref name="time"/>.</summary>
    public FrameClock(TimeProvider time, int framesPerSecond = UserSession.MaxFramesPerSecond)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThan(framesPerSecond, 1);
        _time = time;
        _period = TimeSpan.FromSeconds(1.0 / framesPerSecond);
    }

    /// <summary>Ticks so far (for the Monitor and tests).</summary>
    public long Ticks => Interlocked.Read(ref _ticks);

    /// <summary>Whether the timer runs (only while some tab waited since the last tick).</summary>
    public bool IsRunning
    {
        get
        {
            lock (_gate)
            {
                return _timer is not null;
            }
        }
    }

    /// <summary>
    /// Completes at the next tick. Like <see cref="PeriodicTimer"/>, a caller that was busy past a tick
    /// waits for the following one; frames merge rather than queue.
    /// </summary>
    public Task NextTickAsync(CancellationToken cancellationToken)
    {
        Task next;
        lock (_gate)
        {
            _awaited = true;
            _timer ??= _time.CreateTimer(static s => ((FrameClock)s!).OnTick(), this, _period, _period);
            next = _next.Task;
        }
        return cancellationToken.CanBeCanceled ? next.WaitAsync(cancellationToken) : next;
    }

    private void OnTick()
    {
        TaskCompletionSource fired;
        lock (_gate)
        {
            fired = _next;
            _next = NewTick();
            if (!_awaited && _timer is not null)
            {
                // Nobody waited for a whole period: stop until someone does.
                _timer.Dispose();
                _timer = null;
            }
            _awaited = false;
        }
        Interlocked.Increment(ref _ticks);
        fired.TrySetResult();
    }

    // Continuations run on the thread pool, not inside the timer callback: every tab drains in parallel.
    private static TaskCompletionSource NewTick() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            _timer?.Dispose();
            _timer = null;
        }
    }
}
