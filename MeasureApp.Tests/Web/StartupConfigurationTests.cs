using System.Net;
using MeasureApp.Tests.Infrastructure;

namespace MeasureApp.Tests.Web;

/// <summary>Invalid or unreachable configuration fails the start with a message that names the key.</summary>
public sealed class StartupConfigurationTests
{
    [Theory]
    [InlineData("Admin:Email", "not-an-email", "Admin:Email")]
    [InlineData("Metrics:RequireAdmin", "perhaps", "Metrics:RequireAdmin")]
    public void AnInvalidSettingStopsTheStartNamingItsKey(string key, string value, string named)
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?> { [key] = value });

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains(named, Flatten(error), StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnreachableDatabaseStopsTheStartNamingTheKey()
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?>
        {
            // A closed loopback port: nothing listens there.
            ["ConnectionStrings:Database"] = "Host=127.0.0.1;Port=1;Username=x;Password=y;Database=z;Timeout=2",
        });

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains("ConnectionStrings:Database", Flatten(error), StringComparison.Ordinal);
    }

    [Fact]
    public void AMalformedDatabaseConnectionStringStopsTheStartNamingTheKey()
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?>
        {
            ["ConnectionStrings:Database"] = "this is = not ; a connection string",
        });

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains("ConnectionStrings:Database", Flatten(error), StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnreachableRedisStopsTheStartNamingTheKey()
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = "127.0.0.1:1,connectTimeout=500",
        });

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains("ConnectionStrings:Redis", Flatten(error), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Redis:RenewInterval", "00:00:00", "Redis:RenewInterval must be more than 0")]
    [InlineData("Redis:LivenessTtl", "00:00:06", "Redis:LivenessTtl must be at least twice Redis:RenewInterval")]
    [InlineData("Redis:CommandTimeout", "-00:00:01", "Redis:CommandTimeout must be more than 0")]
    public void ABadRedisCoordinationSettingFailsTheStartNamingTheKey(string key, string value, string sentence)
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = TestEnvironment.RedisConnectionString,
            [key] = value,
        });

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains(sentence, Flatten(error), StringComparison.Ordinal);
    }

    [Fact]
    public void ABadRelaySettingFailsTheStartWithASentenceNamingTheKey()
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = TestEnvironment.RedisConnectionString,
            ["Relay:Lease"] = "00:00:01",
        });

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains("Relay:Lease must be at least twice Relay:RenewInterval", Flatten(error), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithRedisConfiguredReadinessCoversRedis()
    {
        using var factory = new AppFactory(DatabaseProvider.Postgres, new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = TestEnvironment.RedisConnectionString,
        });
        var client = factory.CreateClient();

        var ready = await client.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("Healthy", await ready.Content.ReadAsStringAsync());
    }

    private static string Flatten(Exception e)
    {
        var text = "";
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            text += x.Message + "\n";
            if (x is AggregateException agg)
            {
                text += string.Join("\n", agg.InnerExceptions.Select(i => i.Message));
            }
        }
        return text;
    }
}
