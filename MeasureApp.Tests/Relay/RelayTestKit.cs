using System.Security.Claims;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MeasureApp.Tests.Relay;

/// <summary>
/// A private SQLite database (migrated like the app's) standing in for the shared PostgreSQL:
/// the relay only reads measurement rows and limits from it.
/// </summary>
internal sealed class TestDatabase : IDbContextFactory<AppDbContext>, IAsyncDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("measureapp-relay-").FullName;
    private readonly DbContextOptions<SqliteAppDbContext> _options;

    private TestDatabase()
    {
        _options = new DbContextOptionsBuilder<SqliteAppDbContext>()
            .UseSqlite($"Data Source={Path.Combine(_directory, "app.db")};Pooling=False")
            .Options;
    }

    public static async Task<TestDatabase> CreateAsync()
    {
        var db = new TestDatabase();
        await using var context = db.CreateDbContext();
        await context.Database.MigrateAsync();
        return db;
    }

    public AppDbContext CreateDbContext() => new SqliteAppDbContext(_options);

    /// <summary>Records a measurement row as the acquiring instance's store would.</summary>
    public async Task SaveAsync(MeasurementInfo info)
    {
        await using var db = CreateDbContext();
        var row = await db.Measurements.FirstOrDefaultAsync(m => m.Id == info.Id);
        if (row is null)
        {
            db.Measurements.Add(info.ToRecord());
        }
        else
        {
            row.State = info.State;
        }
        await db.SaveChangesAsync();
    }

    /// <summary>Stores (or replaces) a user's live bandwidth override.</summary>
    public async Task SetLiveBandwidthAsync(string userId, long bytesPerSecond)
    {
        await using var db = CreateDbContext();
        var row = await db.UserLimits.FirstOrDefaultAsync(l => l.UserId == userId);
        if (row is null)
        {
            db.UserLimits.Add(new UserLimitsRecord { UserId = userId, MaxLiveBytesPerSecond = bytesPerSecond });
        }
        else
        {
            row.MaxLiveBytesPerSecond = bytesPerSecond;
        }
        await db.SaveChangesAsync();
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_directory, recursive: true);
        return ValueTask.CompletedTask;
    }
}

/// <summary>A circuit's logged-in user.</summary>
internal sealed class LoggedIn(Requester user) : AuthenticationStateProvider
{
    public override Task<AuthenticationState> GetAuthenticationStateAsync()
    {
        List<Claim> claims = [new(ClaimTypes.NameIdentifier, user.UserId), new(ClaimTypes.Name, user.UserName)];
        if (user.IsAdmin)
        {
            claims.Add(new Claim(ClaimTypes.Role, Roles.Admin));
        }
        return Task.FromResult(new AuthenticationState(new ClaimsPrincipal(new ClaimsIdentity(claims, "test"))));
    }
}

/// <summary>Configured defaults that never change.</summary>
internal sealed class FixedOptions<T>(T value) : IOptionsMonitor<T>
{
    public T CurrentValue => value;

    public T Get(string? name) => value;

    public IDisposable? OnChange(Action<T, string?> listener) => null;
}

/// <summary>Counts warnings (to check that an outage is logged once, not once per frame).</summary>
internal sealed class CountingLogger<T> : Microsoft.Extensions.Logging.ILogger<T>
{
    private int _warnings;

    public int Warnings => Volatile.Read(ref _warnings);

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (logLevel == Microsoft.Extensions.Logging.LogLevel.Warning)
        {
            Interlocked.Increment(ref _warnings);
        }
    }
}
