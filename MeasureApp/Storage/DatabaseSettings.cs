using Microsoft.Data.Sqlite;
using Npgsql;
using StackExchange.Redis;

namespace MeasureApp.Storage;

/// <summary>Which database this instance uses, decided once from <c>ConnectionStrings:Database</c>.</summary>
public sealed record DatabaseSettings(bool IsPostgres, string ConnectionString, string DataDirectory)
{
    /// <summary>Configuration key of the database connection string.</summary>
    public const string Key = "ConnectionStrings:Database";

    /// <summary>Reads and checks the setting; a malformed value fails naming the key.</summary>
    public static DatabaseSettings From(IConfiguration configuration, IHostEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(environment);
        var dataDirectory = Path.GetFullPath(configuration["Storage:DataDirectory"] is { Length: > 0 } d ? d : "data", environment.ContentRootPath);
        var value = configuration.GetConnectionString("Database");
        if (string.IsNullOrWhiteSpace(value))
        {
            Directory.CreateDirectory(dataDirectory);
            var sqlite = new SqliteConnectionStringBuilder
            {
                DataSource = Path.Combine(dataDirectory, "measureapp.db"),
                Pooling = true,
                // Busy timeout: a file locked by another process fails a write after 3 s (not 30), so
                // the store writer spools within seconds and a shutdown finishes inside the host's 30 s.
                DefaultTimeout = 3,
            };
            return new DatabaseSettings(false, sqlite.ConnectionString, dataDirectory);
        }
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(value);
            if (string.IsNullOrEmpty(builder.Host))
            {
                throw new ArgumentException("Host is missing.");
            }
            return new DatabaseSettings(true, builder.ConnectionString, dataDirectory);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidOperationException($"{Key} is not a valid PostgreSQL connection string: {ex.Message}", ex);
        }
    }
}

/// <summary>Parses <c>ConnectionStrings:Redis</c>.</summary>
public static class RedisSettings
{
    /// <summary>Configuration key of the Redis connection string.</summary>
    public const string Key = "ConnectionStrings:Redis";

    /// <summary>Parses the value; a malformed one fails naming the key. Never aborts on a failed first connect.</summary>
    public static ConfigurationOptions Parse(string value)
    {
        try
        {
            var options = ConfigurationOptions.Parse(value);
            options.AbortOnConnectFail = false;
            options.ConnectTimeout = Math.Min(options.ConnectTimeout, 5000);
            return options;
        }
        catch (ArgumentException ex)
        {
            throw new InvalidOperationException($"{Key} is not a valid Redis configuration: {ex.Message}", ex);
        }
    }
}
