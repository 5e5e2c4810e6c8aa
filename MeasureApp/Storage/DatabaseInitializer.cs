using System.Data.Common;
using System.Security.Cryptography;
using MeasureApp.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MeasureApp.Storage;

/// <summary>
/// Runs before the server accepts requests: applies the provider's migrations, makes sure the
/// roles and a first admin exist, and (one instance, no Redis) marks measurements a previous run left
/// Running as stopped. An unreachable database fails the start naming the key.
/// </summary>
public sealed class DatabaseInitializer(IServiceProvider services, DatabaseSettings settings, IOptions<AdminOptions> admin, ILogger<DatabaseInitializer> logger) : IHostedService
{
    /// <summary>E-mail of the generated admin when Admin:Email is not configured.</summary>
    public const string DefaultAdminEmail = "admin@measureapp.local";

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        try
        {
            await db.Database.MigrateAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is DbException or InvalidOperationException or TimeoutException)
        {
            var where = settings.IsPostgres ? DatabaseSettings.Key : $"{DatabaseSettings.Key} (SQLite file in {settings.DataDirectory})";
            throw new InvalidOperationException($"{where}: the database cannot be reached or migrated: {ex.Message}", ex);
        }
        if (!settings.IsPostgres)
        {
            // WAL lets the store writer append while pages read.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
        }
        await SeedAsync(scope.ServiceProvider, cancellationToken);
        if (services.GetService<StackExchange.Redis.IConnectionMultiplexer>() is null)
        {
            await SweepOrphansAsync(cancellationToken);
        }
    }

    // One instance (no Redis) and the engine starts empty: every row still Running was left by a
    // previous run that ended without stopping it (crash, kill). With Redis the relay's periodic
    // sweep decides, since other instances may be running them.
    private async Task SweepOrphansAsync(CancellationToken ct)
    {
        var contexts = services.GetRequiredService<IDbContextFactory<AppDbContext>>();
        var orphans = await OrphanedMeasurements.UnstoppedAsync(contexts, ct);
        if (orphans.Count == 0)
        {
            return;
        }
        var marked = await OrphanedMeasurements.MarkStoppedAsync(contexts, orphans, services.GetService<TimeProvider>()?.GetUtcNow() ?? DateTimeOffset.UtcNow, ct);
        logger.LogWarning("Marked {Count} measurement(s) stopped that a previous run left running.", marked);
    }

    private async Task SeedAsync(IServiceProvider sp, CancellationToken ct)
    {
        var roles = sp.GetRequiredService<RoleManager<IdentityRole>>();
        foreach (var role in new[] { Roles.Admin, Roles.Operator })
        {
            if (!await roles.RoleExistsAsync(role))
            {
                await roles.CreateAsync(new IdentityRole(role));
            }
        }

        var users = sp.GetRequiredService<UserManager<AppUser>>();
        if ((await users.GetUsersInRoleAsync(Roles.Admin)).Count > 0)
        {
            return;
        }
        var email = string.IsNullOrWhiteSpace(admin.Value.Email) ? DefaultAdminEmail : admin.Value.Email.Trim();
        var generated = string.IsNullOrEmpty(admin.Value.Password);
        var password = generated ? GeneratePassword() : admin.Value.Password!;
        var user = await users.FindByEmailAsync(email);
        if (user is null)
        {
            user = new AppUser { UserName = email, Email = email, EmailConfirmed = true, CreatedAt = DateTimeOffset.UtcNow };
            var created = await users.CreateAsync(user, password);
            if (!created.Succeeded)
            {
                throw new InvalidOperationException($"Admin:Password: the first admin could not be created: {string.Join(" ", created.Errors.Select(e => e.Description))}");
            }
        }
        await users.AddToRolesAsync(user, [Roles.Admin, Roles.Operator]);
        ct.ThrowIfCancellationRequested();
        if (generated)
        {
            // Written once: the next start finds the admin and generates nothing.
            logger.LogWarning("Created the first admin {Email} with the generated password {Password} — change it after logging in.", email, password);
        }
        else
        {
            logger.LogInformation("Created the first admin {Email} from configuration.", email);
        }
    }

    private static string GeneratePassword() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(12)).Replace('+', 'x').Replace('/', 'y');

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
