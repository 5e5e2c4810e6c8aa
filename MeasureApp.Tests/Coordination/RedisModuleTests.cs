using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace MeasureApp.Tests.Coordination;

/// <summary>The Redis module: one multiplexer owned by the container, the key ring in Redis.</summary>
public sealed class RedisModuleTests
{
    [Fact]
    public async Task TheAppsRedisConnectionsCloseWhenTheAppStopsAndTheKeyRingLivesInRedis()
    {
        // The app's connections carry a name of their own, so the server tells whether they are open.
        var name = "redis-module-test-" + Guid.NewGuid().ToString("N")[..8];
        await using var observer = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.RedisConnectionString + ",allowAdmin=true");
        var server = observer.GetServer(observer.GetEndPoints()[0]);
        bool AppConnected() => server.ClientList().Any(c => c.Name == name);

        using (var app = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = TestEnvironment.RedisConnectionString + ",name=" + name }))
        {
            _ = app.Services;
            Assert.True(AppConnected());
            // Protecting anything makes sure a key exists; every instance reads it from Redis.
            _ = app.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("test").Protect("x");
            Assert.True(await observer.GetDatabase().ListLengthAsync("measureapp:dataprotection-keys") > 0);
        }

        await Eventually.TrueAsync(() => !AppConnected(), "the app's Redis connections to close");
    }
}
