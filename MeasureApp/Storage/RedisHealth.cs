using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace MeasureApp.Storage;

/// <summary>
/// Ready only while Redis answers a PING within 2 s. While it does not, the app keeps serving
/// (limits on the database, presence of this instance only); this check is what reports it.
/// </summary>
public sealed class RedisHealthCheck(IConnectionMultiplexer redis, MeasureApp.Coordination.RedisReachability reachability) : IHealthCheck
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        // The instance's one reachability state: what the limits, presence and the relay act on.
        if (!reachability.IsReachable)
        {
            return HealthCheckResult.Unhealthy($"Redis is unreachable since {reachability.DownSince:u}; limits use the database and presence this instance only.");
        }
        try
        {
            var latency = await redis.GetDatabase().PingAsync().WaitAsync(Timeout, cancellationToken);
            return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:0.0} ms");
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            reachability.ReportFailure(ex.Message);
            return HealthCheckResult.Unhealthy("Redis does not answer.", ex);
        }
    }
}

/// <summary>Fails the start when Redis is configured but does not answer, naming the key.</summary>
public sealed class RedisStartupCheck(IConnectionMultiplexer redis) : IHostedService
{
    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await redis.GetDatabase().PingAsync();
        }
        catch (RedisException ex)
        {
            throw new InvalidOperationException($"{RedisSettings.Key}: Redis at {string.Join(", ", redis.GetEndPoints().Select(e => e.ToString()))} does not answer: {ex.Message}", ex);
        }
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
