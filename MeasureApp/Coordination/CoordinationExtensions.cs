using MeasureApp.Acquisition.Coordination;
using MeasureApp.Coordination;
using MeasureApp.Storage;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.StackExchangeRedis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Microsoft.Extensions.Hosting;

/// <summary>The Redis module: everything that exists only when <c>ConnectionStrings:Redis</c> is set.</summary>
public static class CoordinationExtensions
{
    /// <summary>Redis key of the Data Protection key ring shared by all instances.</summary>
    public const string DataProtectionKey = "measureapp:dataprotection-keys";

    /// <summary>
    /// Adds the one <see cref="IConnectionMultiplexer"/> (created by the container, so it is disposed when
    /// the host stops), the Data Protection key ring in Redis, the readiness check and the start check,
    /// the Redis link, its liveness loop, the Redis limit coordinator (before the acquisition's
    /// in-process default, which then stays out), the export slots and the presence publisher.
    /// </summary>
    public static IServiceCollection AddRedisCoordination(this IServiceCollection services, ConfigurationOptions redis)
    {
        ArgumentNullException.ThrowIfNull(redis);
        services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(redis));
        services.AddOptions<KeyManagementOptions>().Configure<IConnectionMultiplexer>((o, multiplexer) =>
            o.XmlRepository = new RedisXmlRepository(() => multiplexer.GetDatabase(), DataProtectionKey));
        services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", tags: ["ready"]);
        services.AddHostedService<RedisStartupCheck>();
        // Redis:* timings, checked at start (a sentence naming the key); the link takes the bound values.
        services.AddSectionOptions<RedisCoordinationOptions>(RedisCoordinationOptions.SectionName, o => [o.Problem()]);
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<RedisCoordinationOptions>>().Value);
        // One reachability state that every Redis feature reads and reports to (limits, presence, relay, readiness).
        services.AddSingleton(sp => new RedisReachability(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<RedisReachability>>()));
        services.AddSingleton<RedisLink>();
        services.AddHostedService<RedisLivenessService>();
        services.AddSingleton<ILimitCoordinator, RedisLimitCoordinator>();
        services.AddSingleton<MeasureApp.Limits.IClusterUserSlots, RedisExportSlots>();
        services.AddSingleton<RedisPresenceStore>();
        services.AddHostedService(sp => sp.GetRequiredService<RedisPresenceStore>());
        return services;
    }
}
