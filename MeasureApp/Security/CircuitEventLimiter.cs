using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;

namespace MeasureApp.Security;

/// <summary>
/// Budget of UI events per circuit: a token bucket per Blazor connection over every message the
/// browser starts (events, .NET calls from JS, navigations), <c>Security:CircuitEventsPerSecond</c>
/// sustained with bursts of <c>Security:CircuitEventBurst</c>. An event over the budget waits for its
/// token. SignalR reads a connection's next message only when the current one has been handled, so
/// the wait slows down that connection only and nothing piles up on the server. A connection that
/// stays over the budget for <c>Security:CircuitFloodSeconds</c> is disconnected, logged and counted.
/// </summary>
/// <remarks>
/// A hub filter rather than a <c>CircuitHandler</c> inbound-activity handler: the hub starts the
/// circuit's work without awaiting it, so a wait there would queue every flooded event in memory, and
/// the handler cannot tell an event from a reply. Replies to the server's own calls
/// (<c>OnRenderCompleted</c>, <c>EndInvokeJSFromDotNet</c>) are not counted: their number is bounded
/// by what the server sends (a live chart produces only these), and a forged one ends the circuit in
/// Blazor itself.
/// </remarks>
public sealed class CircuitEventLimiter(IOptionsMonitor<SecurityOptions> options, TimeProvider time, ILogger<CircuitEventLimiter> logger) : IHubFilter
{
    private static readonly HashSet<string> Replies = new(StringComparer.Ordinal) { "OnRenderCompleted", "EndInvokeJSFromDotNet" };

    private readonly ConcurrentDictionary<string, UserEventCounts> _users = new(StringComparer.Ordinal);

    /// <summary>Counts of one user's circuits: events handled, events that had to wait, circuits disconnected for flooding.</summary>
    public sealed class UserEventCounts
    {
        internal long AdmittedCount;
        internal long DelayedCount;
        internal long DisconnectedCount;

        /// <summary>Events handled (at once or after a wait).</summary>
        public long Admitted => Interlocked.Read(ref AdmittedCount);

        /// <summary>Events that waited for the budget.</summary>
        public long Delayed => Interlocked.Read(ref DelayedCount);

        /// <summary>Connections ended because they stayed over the budget.</summary>
        public long Disconnected => Interlocked.Read(ref DisconnectedCount);
    }

    /// <summary>Counts per user id (for /metrics and tests).</summary>
    public IReadOnlyDictionary<string, UserEventCounts> PerUser => _users;

    /// <summary>Counts of one user (zeros when the user sent nothing).</summary>
    public UserEventCounts For(string userId) => _users.TryGetValue(userId, out var counts) ? counts : new UserEventCounts();

    /// <inheritdoc />
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        ArgumentNullException.ThrowIfNull(invocationContext);
        ArgumentNullException.ThrowIfNull(next);
        if (Replies.Contains(invocationContext.HubMethodName))
        {
            return await next(invocationContext);
        }
        var caller = invocationContext.Context;
        var counts = _users.GetOrAdd(caller.UserIdentifier ?? "", _ => new UserEventCounts());
        if (!caller.Items.TryGetValue(typeof(EventBucket), out var found) || found is not EventBucket bucket)
        {
            bucket = new EventBucket(options.CurrentValue.CircuitEventBurst, time.GetTimestamp());
            caller.Items[typeof(EventBucket)] = bucket;
        }
        var settings = options.CurrentValue;
        var (wait, flooded) = bucket.Take(time, settings);
        if (flooded)
        {
            if (bucket.MarkDisconnected())
            {
                Interlocked.Increment(ref counts.DisconnectedCount);
                logger.LogWarning("Circuit connection of user {User} from {Address} disconnected: more than {Rate} UI events per second for {Seconds} s",
                    caller.UserIdentifier, caller.GetHttpContext()?.Connection.RemoteIpAddress, settings.CircuitEventsPerSecond, settings.CircuitFloodSeconds);
                caller.Abort();
            }
            return null;
        }
        if (wait > TimeSpan.Zero)
        {
            Interlocked.Increment(ref counts.DelayedCount);
            try
            {
                await Task.Delay(wait, time, caller.ConnectionAborted);
            }
            catch (OperationCanceledException) when (caller.ConnectionAborted.IsCancellationRequested)
            {
                return null;
            }
        }
        Interlocked.Increment(ref counts.AdmittedCount);
        return await next(invocationContext);
    }

    /// <summary>One connection's bucket; SignalR hands it one message at a time, the lock is for safety only.</summary>
    private sealed class EventBucket(int burst, long now)
    {
        private readonly Lock _lock = new();
        private double _tokens = burst;
        private long _last = now;
        private long? _overSince;
        private bool _disconnected;

        public (TimeSpan Wait, bool Flooded) Take(TimeProvider time, SecurityOptions settings)
        {
            lock (_lock)
            {
                if (_disconnected)
                {
                    return (TimeSpan.Zero, true);
                }
                var now = time.GetTimestamp();
                var rate = (double)settings.CircuitEventsPerSecond;
                _tokens = Math.Min(settings.CircuitEventBurst, _tokens + (time.GetElapsedTime(_last, now).TotalSeconds * rate));
                _last = now;
                if (_tokens >= 1)
                {
                    _tokens -= 1;
                    _overSince = null;
                    return (TimeSpan.Zero, false);
                }
                _overSince ??= now;
                if (time.GetElapsedTime(_overSince.Value, now) >= TimeSpan.FromSeconds(settings.CircuitFloodSeconds))
                {
                    return (TimeSpan.Zero, true);
                }
                // The token this event takes is earned (1 - tokens) / rate from now.
                var wait = TimeSpan.FromSeconds((1 - _tokens) / rate);
                _tokens -= 1;
                return (wait, false);
            }
        }

        public bool MarkDisconnected()
        {
            lock (_lock)
            {
                var first = !_disconnected;
                _disconnected = true;
                return first;
            }
        }
    }
}

/// <summary>The circuit event budget in <c>GET /metrics</c>, per user: events delayed and connections
/// disconnected for flooding (the log names the address).</summary>
public sealed class CircuitEventMetrics
{
    private readonly CircuitEventLimiter _limiter;
    private readonly Prometheus.Counter _delayed;
    private readonly Prometheus.Counter _disconnected;

    /// <summary>Adds the metrics to the exporter's registry.</summary>
    public CircuitEventMetrics(MeasureApp.Monitoring.MetricsExporter exporter, CircuitEventLimiter limiter)
    {
        ArgumentNullException.ThrowIfNull(exporter);
        _limiter = limiter;
        var factory = Prometheus.Metrics.WithCustomRegistry(exporter.Registry);
        _delayed = factory.CreateCounter("measureapp_circuit_events_delayed_total",
            "UI events of the user's tabs that waited because the tab sent more than Security:CircuitEventsPerSecond.", "user");
        _disconnected = factory.CreateCounter("measureapp_circuit_flood_disconnects_total",
            "Tab connections of the user ended because they stayed over the UI event budget for Security:CircuitFloodSeconds.", "user");
        exporter.Registry.AddBeforeCollectCallback(Collect);
    }

    private void Collect()
    {
        foreach (var (user, counts) in _limiter.PerUser)
        {
            if (counts.Delayed > 0 || counts.Disconnected > 0)
            {
                _delayed.WithLabels(user).IncTo(counts.Delayed);
                _disconnected.WithLabels(user).IncTo(counts.Disconnected);
            }
        }
    }
}
