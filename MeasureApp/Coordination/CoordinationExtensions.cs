using MeasureApp.Acquisition.Coordination;
using MeasureApp.Coordination;

namespace Microsoft.Extensions.Hosting;

/// <summary>Registers the Redis side of several instances: global limit counters and presence.</summary>
public static class CoordinationExtensions
{
    /// <summary>
    /// Adds the Redis link, its liveness loop, the Redis limit coordinator (before the acquisition's
    /// in-process default, which then stays out) and the presence publisher. Needs an
    /// <see cref="StackExchange.Redis.IConnectionMultiplexer"/>.
    /// </summary>
    public static IServiceCollection AddRedisCoordination(this IServiceCollection services)
    {
        services.AddSingleton(new RedisCoordinationOptions());
        services.AddSingleton<RedisLink>();
        services.AddHostedService<RedisLivenessService>();
        services.AddSingleton<ILimitCoordinator, RedisLimitCoordinator>();
        services.AddSingleton<MeasureApp.Limits.IClusterUserSlots, RedisExportSlots>();
        services.AddSingleton<RedisPresenceStore>();
        services.AddHostedService(sp => sp.GetRequiredService<RedisPresenceStore>());
        return services;
    }
}
