using MeasureApp.Acquisition.Devices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MeasureApp.Tests.Infrastructure;

/// <summary>
/// The real app on a fresh database: a SQLite file in a temp folder, or a new PostgreSQL database
/// on the server scripts/test.sh started. Seeds a known admin.
/// </summary>
public sealed class AppFactory : WebApplicationFactory<Program>
{
    public const string AdminEmail = "admin@test.local";
    public const string AdminPassword = "admin-password-1";

    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "measureapp-tests", Guid.NewGuid().ToString("N"));
    private readonly string? _postgresDatabase;
    private readonly Dictionary<string, string?> _settings;

    public AppFactory(DatabaseProvider provider, IDictionary<string, string?>? settings = null)
    {
        Provider = provider;
        _settings = new(settings ?? new Dictionary<string, string?>(), StringComparer.OrdinalIgnoreCase);
        if (provider == DatabaseProvider.Postgres)
        {
            _postgresDatabase = "measureapp_test_" + Guid.NewGuid().ToString("N")[..12];
            using var admin = new NpgsqlConnection(TestEnvironment.PostgresConnectionString);
            admin.Open();
            using var create = new NpgsqlCommand($"CREATE DATABASE {_postgresDatabase}", admin);
            create.ExecuteNonQuery();
        }
    }

    public DatabaseProvider Provider { get; }

    /// <summary>The app's log lines (Information and above).</summary>
    public CapturedLogs Logs { get; } = new();

    /// <summary>A small connection pool (PostgreSQL only) for tests of pool exhaustion; null = Npgsql's default.</summary>
    public int? MaxPoolSize { get; init; }

    public string ConnectionString
    {
        get
        {
            if (_postgresDatabase is null)
            {
                return "";
            }
            var b = new NpgsqlConnectionStringBuilder(TestEnvironment.PostgresConnectionString) { Database = _postgresDatabase };
            if (MaxPoolSize is { } pool)
            {
                // A waiter for a pooled connection gives up after Timeout seconds: exhaustion shows as errors.
                b.MaxPoolSize = pool;
                b.Timeout = 5;
            }
            return b.ConnectionString;
        }
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        builder.UseSetting("ConnectionStrings:Database", ConnectionString);
        builder.UseSetting("ConnectionStrings:Redis", "");
        builder.UseSetting("Storage:DataDirectory", _dataDirectory);
        builder.UseSetting("Admin:Email", AdminEmail);
        builder.UseSetting("Admin:Password", AdminPassword);
        // Suites log in many users from one loopback address; the limit's own tests set it low.
        builder.UseSetting("Security:LoginsPerMinute", "10000");
        builder.ConfigureServices(s => s.AddSingleton<IStartupFilter, TestPeerStartupFilter>());
        builder.ConfigureLogging(l => l.AddProvider(Logs));
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }
        // The shipped appsettings.json has a Network device on the fixed ports 5700: tests run many apps
        // at once, so every configured device listens on free ports unless the test chose its own.
        builder.ConfigureAppConfiguration((_, config) =>
        {
            var ports = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            foreach (var device in config.Build().GetSection("Acquisition:Devices").GetChildren())
            {
                foreach (var key in new[] { $"{device.Path}:TcpPort", $"{device.Path}:UdpPort" })
                {
                    if (!_settings.ContainsKey(key))
                    {
                        ports[key] = "0";
                    }
                }
            }
            config.AddInMemoryCollection(ports);
        });
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (!disposing)
        {
            return;
        }
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A SQLite handle may still be closing; the temp folder is cleaned by the OS.
        }
        if (_postgresDatabase is not null)
        {
            NpgsqlConnection.ClearAllPools();
            using var admin = new NpgsqlConnection(TestEnvironment.PostgresConnectionString);
            admin.Open();
            using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_postgresDatabase} WITH (FORCE)", admin);
            drop.ExecuteNonQuery();
        }
    }

    /// <summary>A device definition used by engine tests.</summary>
    public static DeviceOptions SimulatedDevice(string id = "sim-1") => new() { Id = id, Driver = "Simulated", Seed = 7 };
}

/// <summary>
/// The in-memory test server has no client address; a request may name one in <see cref="Header"/>
/// (tests of per-address limits and forwarded headers). Real connections are never affected.
/// </summary>
internal sealed class TestPeerStartupFilter : IStartupFilter
{
    public const string Header = "X-Test-Peer";

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use((context, nextMiddleware) =>
        {
            if (context.Connection.RemoteIpAddress is null && System.Net.IPAddress.TryParse(context.Request.Headers[Header].ToString(), out var peer))
            {
                context.Connection.RemoteIpAddress = peer;
            }
            return nextMiddleware(context);
        });
        next(app);
    };
}
