using StackExchange.Redis;

namespace MeasureApp.Coordination;

/// <summary>Key names and timings of the Redis coordination (limits, presence, instance liveness).</summary>
public sealed class RedisCoordinationOptions
{
    /// <summary>Configuration section (<c>Redis:LivenessTtl</c> etc.); used only when <c>ConnectionStrings:Redis</c> is set.</summary>
    public const string SectionName = "Redis";

    /// <summary>Prefix of every key this feature writes (tests use one per test).</summary>
    public string KeyPrefix { get; set; } = "measureapp:";

    /// <summary>This process's id among the instances sharing the Redis; unique per process by default.</summary>
    public string InstanceId { get; set; } = $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>An instance whose liveness key is older than this is dead: its slots and tabs no longer count.</summary>
    public TimeSpan LivenessTtl { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often the liveness key is renewed and an outage is re-checked.</summary>
    public TimeSpan RenewInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest a request waits for Redis before falling back (connection lost / timeout).</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(1.5);

    /// <summary>How often this instance publishes its tabs and reads everyone else's.</summary>
    public TimeSpan PresenceInterval { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>The problem with these options in one sentence naming the key, or null when they are usable.</summary>
    public string? Problem() =>
        string.IsNullOrWhiteSpace(KeyPrefix) ? $"{SectionName}:KeyPrefix must not be empty."
        : string.IsNullOrWhiteSpace(InstanceId) ? $"{SectionName}:InstanceId must not be empty."
        : RenewInterval <= TimeSpan.Zero ? $"{SectionName}:RenewInterval must be more than 0 (got {RenewInterval})."
        : LivenessTtl < 2 * RenewInterval ? $"{SectionName}:LivenessTtl must be at least twice {SectionName}:RenewInterval (got {LivenessTtl} and {RenewInterval})."
        : CommandTimeout <= TimeSpan.Zero ? $"{SectionName}:CommandTimeout must be more than 0 (got {CommandTimeout})."
        : PresenceInterval <= TimeSpan.Zero ? $"{SectionName}:PresenceInterval must be more than 0 (got {PresenceInterval})."
        : null;
}

/// <summary>
/// The coordination features' view of Redis: runs commands with a short timeout, and keeps one
/// "reachable / unreachable" state so an outage is logged once and every feature falls back at
/// once instead of each request waiting for a timeout. While unreachable nothing is sent; the
/// liveness loop (<see cref="CheckAsync"/>) detects the recovery, lets the features re-publish
/// their local state, and only then reports Redis reachable again.
/// </summary>
public sealed class RedisLink(IConnectionMultiplexer redis, RedisCoordinationOptions options, TimeProvider time, ILogger<RedisLink> logger, RedisReachability? reachability = null)
{
    private readonly RedisReachability _reachability = reachability ?? new RedisReachability(redis, time, logger);
    private readonly List<Func<IDatabase, Task>> _recoveries = [];
    private int _checking;
    private int _checkedOnce;

    /// <summary>This instance's id.</summary>
    public string InstanceId => options.InstanceId;

    /// <summary>The timings in use.</summary>
    public RedisCoordinationOptions Options => options;

    /// <summary>False from the first failed command until the recovery has re-published local state.</summary>
    public bool IsReachable => _reachability.IsReachable;

    /// <summary>Since when Redis is unreachable (meaningful while <see cref="IsReachable"/> is false).</summary>
    public DateTimeOffset DownSince => _reachability.DownSince;

    /// <summary>A key under this feature's prefix.</summary>
    public RedisKey Key(string name) => options.KeyPrefix + name;

    /// <summary>Prefix of the instances' liveness keys (the Lua scripts append an instance id).</summary>
    public string LivenessPrefix => options.KeyPrefix + "instance:";

    /// <summary>Adds work that must succeed before Redis counts as reachable again (re-publishing local state).</summary>
    public void OnRecovery(Func<IDatabase, Task> republish)
    {
        lock (_recoveries)
        {
            _recoveries.Add(republish);
        }
    }

    /// <summary>
    /// Runs <paramref name="operation"/> unless Redis is known to be unreachable; a failure or a
    /// timeout marks it unreachable. <c>Ok</c> is false when the caller must fall back.
    /// </summary>
    public async Task<(bool Ok, T? Value)> TryAsync<T>(Func<IDatabase, Task<T>> operation)
    {
        if (!IsReachable)
        {
            return (false, default);
        }
        try
        {
            return (true, await RunAsync(operation));
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            MarkDown(ex.Message);
            return (false, default);
        }
    }

    /// <summary>
    /// Renews this instance's liveness key; after an outage runs the re-publishing and then reports
    /// Redis reachable. Called by <see cref="RedisLivenessService"/> every few seconds.
    /// </summary>
    public async Task CheckAsync()
    {
        if (Interlocked.Exchange(ref _checking, 1) == 1)
        {
            return;
        }
        try
        {
            // A missing key after the first check means Redis lost this instance's state (a restart
            // between two checks, or an expiry): re-publish even though no command failed.
            var previous = await RunAsync(db => db.StringSetAndGetAsync(LivenessPrefix + options.InstanceId, "1", options.LivenessTtl));
            var first = Interlocked.Exchange(ref _checkedOnce, 1) == 0;
            var lost = previous.IsNull && !first;
            if (IsReachable && !lost)
            {
                return;
            }
            if (IsReachable)
            {
                logger.LogWarning("Redis lost this instance's keys (a restart or an expiry); re-publishing its limit counts");
            }
            Func<IDatabase, Task>[] recoveries;
            lock (_recoveries)
            {
                recoveries = [.. _recoveries];
            }
            // Each command is bounded by the multiplexer's own timeout; the total grows with the users.
            var db = redis.GetDatabase();
            foreach (var republish in recoveries)
            {
                await republish(db);
            }
            _reachability.ReportRecovered();
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            MarkDown(ex.Message);
        }
        finally
        {
            Volatile.Write(ref _checking, 0);
        }
    }

    /// <summary>Removes this instance's liveness key (a clean shutdown: other instances drop its slots and tabs at once).</summary>
    public Task<(bool Ok, bool Value)> RetireAsync() => TryAsync(db => db.KeyDeleteAsync(LivenessPrefix + options.InstanceId));

    private async Task<T> RunAsync<T>(Func<IDatabase, Task<T>> operation)
    {
        if (!redis.IsConnected)
        {
            throw new RedisException("Redis is not connected.");
        }
        var task = operation(redis.GetDatabase());
        try
        {
            return await task.WaitAsync(options.CommandTimeout, time);
        }
        catch (TimeoutException)
        {
            // The command may still complete or fail later; observe it so it is not reported as unobserved.
            _ = task.ContinueWith(static t => t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
            throw;
        }
    }

    private void MarkDown(string reason) => _reachability.ReportFailure(reason);

    // A command that cannot reach Redis: refused, timed out, or the connection already closed (a host stopping
    // closes the multiplexer while a last retire or check may still run; a loaded CI run failed a test's
    // shutdown with ObjectDisposedException from the retire).
    private static bool IsConnectionFailure(Exception ex) => ex is RedisException or TimeoutException or ObjectDisposedException;
}

/// <summary>Renews this instance's liveness key and detects Redis recoveries.</summary>
public sealed class RedisLivenessService(RedisLink link, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await link.CheckAsync();
        using var timer = new PeriodicTimer(link.Options.RenewInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            await link.CheckAsync();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await link.RetireAsync();
    }
}
