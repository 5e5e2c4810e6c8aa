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
