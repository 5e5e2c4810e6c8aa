using MeasureApp.Acquisition;
using MeasureApp.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MeasureApp.Limits;

/// <summary>Resolves a user's effective limits: configured defaults with the user's overrides on top.</summary>
public sealed class LimitsService(IDbContextFactory<AppDbContext> contexts, IOptionsMonitor<LimitsOptions> defaults)
{
    /// <summary>The configured defaults as engine numbers.</summary>
    public UserLimits Defaults
    {
        get
        {
            var d = defaults.CurrentValue;
            return new UserLimits
            {
                MaxParallelMeasurements = d.MaxParallelMeasurements,
                MaxSampleRate = d.MaxSampleRate,
                MaxChannels = d.MaxChannels,
                MaxLiveBytesPerSecond = d.MaxLiveBytesPerSecond,
                MaxDuration = d.MaxDuration,
                MaxSessions = d.MaxSessions,
                Retention = d.Retention,
                MaxConcurrentExports = d.MaxConcurrentExports,
            };
        }
    }

    /// <summary>The effective limits of one user.</summary>
    public async Task<UserLimits> GetAsync(string userId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var o = await db.UserLimits.AsNoTracking().FirstOrDefaultAsync(l => l.UserId == userId, cancellationToken);
        var d = Defaults;
        return o is null ? d : d with
        {
            MaxParallelMeasurements = o.MaxParallelMeasurements ?? d.MaxParallelMeasurements,
            MaxSampleRate = o.MaxSampleRate ?? d.MaxSampleRate,
            MaxChannels = o.MaxChannels ?? d.MaxChannels,
            MaxLiveBytesPerSecond = o.MaxLiveBytesPerSecond ?? d.MaxLiveBytesPerSecond,
            MaxDuration = o.MaxDuration ?? d.MaxDuration,
            MaxSessions = o.MaxSessions ?? d.MaxSessions,
            Retention = o.Retention ?? d.Retention,
        };
    }
}

/// <summary>Per-user overrides as edited on the Limits page; null means "use the default".</summary>
public sealed record LimitOverrides
{
    public int? MaxParallelMeasurements { get; init; }
    public double? MaxSampleRate { get; init; }
    public int? MaxChannels { get; init; }
    public long? MaxLiveBytesPerSecond { get; init; }
    public TimeSpan? MaxDuration { get; init; }
    public int? MaxSessions { get; init; }
    public TimeSpan? Retention { get; init; }

    /// <summary>Range checks (<see cref="LimitTable"/>) with messages that state the allowed numbers in the page's units; empty when valid.</summary>
    public IReadOnlyList<string> Validate() =>
    [
        .. new[]
        {
            LimitTable.ParallelMeasurements.Problem(MaxParallelMeasurements),
            LimitTable.SampleRate.Problem(MaxSampleRate),
            LimitTable.Channels.Problem(MaxChannels),
            LimitTable.LiveBytesPerSecond.Problem(MaxLiveBytesPerSecond),
            LimitTable.Sessions.Problem(MaxSessions),
            LimitTable.Duration.Problem(MaxDuration),
            LimitTable.Retention.Problem(Retention),
        }.OfType<string>(),
    ];
}

/// <summary>Admin side of limits: read and store per-user overrides (role checked here, not only on the page).</summary>
public sealed class LimitsAdminService(IDbContextFactory<AppDbContext> contexts, LimitsService limits, MeasureApp.Acquisition.Measurements.MeasurementEngine engine, MeasureApp.Audit.AuditLog? audit = null)
{
    /// <summary>The stored overrides of a user (all null when none).</summary>
    public async Task<LimitOverrides> GetOverridesAsync(MeasureApp.Acquisition.Measurements.Requester requester, string userId, CancellationToken cancellationToken)
    {
        RequireAdmin(requester);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var o = await db.UserLimits.AsNoTracking().FirstOrDefaultAsync(l => l.UserId == userId, cancellationToken);
        return o is null ? new LimitOverrides() : new LimitOverrides
        {
            MaxParallelMeasurements = o.MaxParallelMeasurements,
            MaxSampleRate = o.MaxSampleRate,
            MaxChannels = o.MaxChannels,
            MaxLiveBytesPerSecond = o.MaxLiveBytesPerSecond,
            MaxDuration = o.MaxDuration,
            MaxSessions = o.MaxSessions,
            Retention = o.Retention,
        };
    }

    /// <summary>Validates and stores overrides; returns the validation errors (nothing stored when any).</summary>
    public async Task<IReadOnlyList<string>> SaveOverridesAsync(MeasureApp.Acquisition.Measurements.Requester requester, string userId, LimitOverrides overrides, CancellationToken cancellationToken)
    {
        RequireAdmin(requester);
        ArgumentNullException.ThrowIfNull(overrides);
        var errors = overrides.Validate();
        if (errors.Count > 0)
        {
            return errors;
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        if (!await db.Users.AnyAsync(u => u.Id == userId, cancellationToken))
        {
            return ["User not found."];
        }
        var row = await db.UserLimits.FirstOrDefaultAsync(l => l.UserId == userId, cancellationToken);
        if (row is null)
        {
            row = new UserLimitsRecord { UserId = userId };
            db.UserLimits.Add(row);
        }
        row.MaxParallelMeasurements = overrides.MaxParallelMeasurements;
        row.MaxSampleRate = overrides.MaxSampleRate;
        row.MaxChannels = overrides.MaxChannels;
        row.MaxLiveBytesPerSecond = overrides.MaxLiveBytesPerSecond;
        row.MaxDuration = overrides.MaxDuration;
        row.MaxSessions = overrides.MaxSessions;
        row.Retention = overrides.Retention;
        await db.SaveChangesAsync(cancellationToken);
        // Running work follows the new duration limit at once; everything else applies at the next start.
        engine.ApplyLimits(userId, await limits.GetAsync(userId, cancellationToken));
        if (audit is not null)
        {
            var email = await db.Users.Where(u => u.Id == userId).Select(u => u.Email).FirstOrDefaultAsync(cancellationToken);
            await audit.WriteAsync(requester, MeasureApp.Audit.AuditActions.Limits, targetUserId: userId, targetUserName: email,
                detail: System.Text.Json.JsonSerializer.Serialize(overrides));
        }
        return [];
    }

    private static void RequireAdmin(MeasureApp.Acquisition.Measurements.Requester requester)
    {
        ArgumentNullException.ThrowIfNull(requester);
        if (!requester.IsAdmin)
        {
            throw new UnauthorizedAccessException("Only administrators change limits.");
        }
    }
}
