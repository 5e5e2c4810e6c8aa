using StackExchange.Redis;

namespace MeasureApp.Coordination;

/// <summary>
/// The one answer to "is Redis reachable?" on this instance. Every Redis feature (limit counters,
/// presence, the live relay, the orphan sweep, the readiness check) reads it and reports the failures
/// it sees to it, so an outage is logged once and every feature falls back at once. Only the liveness
/// check (<see cref="RedisLink.CheckAsync"/>) reports the recovery, after it has re-published this
/// instance's state; until then nothing counts on Redis.
/// </summary>
public sealed class RedisReachability
{
    private readonly IConnectionMultiplexer _redis;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private int _down;
    private long _downSinceTicks;

    /// <summary>A tracker of <paramref name="redis"/>; a lost connection counts as a failure at once.</summary>
    public RedisReachability(IConnectionMultiplexer redis, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(redis);
        _redis = redis;
        _time = time;
        _logger = logger;
        redis.ConnectionFailed += (_, e) => ReportFailure($"{e.FailureType} on {e.EndPoint}");
    }

    /// <summary>False from the first failure until the liveness check has re-published local state (and while disconnected).</summary>
    public bool IsReachable => Volatile.Read(ref _down) == 0 && _redis.IsConnected;

    /// <summary>Since when Redis is unreachable (meaningful while <see cref="IsReachable"/> is false).</summary>
    public DateTimeOffset DownSince => new(Interlocked.Read(ref _downSinceTicks), TimeSpan.Zero);

    /// <summary>Raised with the new state when Redis becomes unreachable or reachable again.</summary>
    public event Action<bool>? Changed;

    /// <summary>A feature's command failed or timed out: every feature falls back until the recovery.</summary>
    public void ReportFailure(string reason)
    {
        if (Interlocked.Exchange(ref _down, 1) == 0)
        {
            Interlocked.Exchange(ref _downSinceTicks, _time.GetUtcNow().UtcTicks);
            _logger.LogWarning("Redis is unreachable ({Reason}): limits are checked against the database, presence shows this instance only and live views of other instances' measurements pause until it is back", reason);
            Changed?.Invoke(false);
        }
    }

    /// <summary>The liveness check re-published local state: Redis counts again.</summary>
    public void ReportRecovered()
    {
        if (Interlocked.Exchange(ref _down, 0) == 1)
        {
            _logger.LogInformation("Redis is reachable again after {Outage:0.0} s; this instance's limit counts and tabs are re-published", (_time.GetUtcNow() - DownSince).TotalSeconds);
            Changed?.Invoke(true);
        }
    }
}
