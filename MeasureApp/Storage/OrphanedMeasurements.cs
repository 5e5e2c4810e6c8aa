using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Storage;

/// <summary>
/// Rows left in state Running (or Starting) by an instance that ended without stopping its
/// measurements (crash, kill). They are marked Stopped with reason <see cref="StopReason.Shutdown"/>
/// and a detail saying so; their sample count is what the stored chunks hold, so the Measurements
/// page and the limits' database fallback (which counts Running rows) are right again.
/// </summary>
public static class OrphanedMeasurements
{
    /// <summary>The stop detail of an orphaned measurement.</summary>
    public const string Detail = "The instance acquiring it stopped unexpectedly; the samples stored until then are kept.";

    /// <summary>Rows not yet stopped (candidates; the caller decides which are orphans).</summary>
    public static async Task<List<MeasurementRecord>> UnstoppedAsync(IDbContextFactory<AppDbContext> contexts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(contexts);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Measurements.AsNoTracking().Where(m => m.State != MeasurementState.Stopped).ToListAsync(cancellationToken);
    }

    /// <summary>
    /// Marks the given rows stopped (only those still not stopped: a real stop that got there first
    /// wins) and returns how many were marked.
    /// </summary>
    public static async Task<int> MarkStoppedAsync(IDbContextFactory<AppDbContext> contexts, IEnumerable<MeasurementRecord> orphans, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(contexts);
        ArgumentNullException.ThrowIfNull(orphans);
        var marked = 0;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        foreach (var row in orphans)
        {
            var id = row.Id;
            var samples = await db.Set<SampleChunkRecord>().Where(c => c.MeasurementId == id).SumAsync(c => (long)c.SampleCount, cancellationToken);
            // The time of the last stored sample, as far as the row's rate tells; never later than now.
            var lastSample = row.SampleRate > 0 ? row.StartedAt + TimeSpan.FromSeconds(samples / row.SampleRate) : row.StartedAt;
            var stoppedAt = lastSample < now ? lastSample : now;
            marked += await db.Measurements
                .Where(m => m.Id == id && m.State != MeasurementState.Stopped)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(m => m.State, MeasurementState.Stopped)
                    .SetProperty(m => m.StopReason, StopReason.Shutdown)
                    .SetProperty(m => m.StopDetail, Detail)
                    .SetProperty(m => m.StoppedAt, stoppedAt)
                    .SetProperty(m => m.SampleCount, samples), cancellationToken);
        }
        return marked;
    }
}
