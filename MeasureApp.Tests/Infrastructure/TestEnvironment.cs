namespace MeasureApp.Tests.Infrastructure;

/// <summary>
/// Servers started by scripts/test.sh. A test that needs one fails (never skips) when it is
/// missing, so CI cannot pass without them.
/// </summary>
public static class TestEnvironment
{
    public static string PostgresConnectionString => Require("MEASUREAPP_TEST_POSTGRES");

    public static string RedisConnectionString => Require("MEASUREAPP_TEST_REDIS");

    public static string ChromiumPath => Environment.GetEnvironmentVariable("MEASUREAPP_TEST_CHROMIUM") is { Length: > 0 } p ? p : "/usr/bin/chromium";

    private static string Require(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{name} is not set: run the suite with scripts/test.sh, which starts PostgreSQL and Redis.");
}

/// <summary>The two database providers every database test runs against.</summary>
public enum DatabaseProvider
{
    Sqlite,
    Postgres,
}
