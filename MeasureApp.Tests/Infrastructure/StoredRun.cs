using MeasureApp.Data;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Tests.Infrastructure;

/// <summary>
/// What the database holds of one measurement, read straight from its tables: the stored chunks'
/// samples, whether they run without a hole from sample 0, and the row. Used by crash tests and the
/// <c>load crash</c> bench (which links this file). Duplicates cannot hide here: (measurement, seq)
/// is the chunks' key, and overlapping chunks would make <see cref="Contiguous"/> false.
/// </summary>
internal sealed record StoredRun(long Samples, int Chunks, bool Contiguous, MeasurementRecord? Row)
{
    /// <summary>Reads one measurement's chunks and row.</summary>
    public static async Task<StoredRun> ReadAsync(AppDbContext db, Guid measurementId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(db);
        var chunks = await db.Set<SampleChunkRecord>().AsNoTracking()
            .Where(c => c.MeasurementId == measurementId)
            .Select(c => new { c.FirstSampleIndex, c.SampleCount })
            .ToListAsync(cancellationToken);
        var next = 0L;
        var contiguous = true;
        foreach (var c in chunks.OrderBy(c => c.FirstSampleIndex))
        {
            contiguous &= c.FirstSampleIndex == next;
            next = c.FirstSampleIndex + c.SampleCount;
        }
        var row = await db.Measurements.AsNoTracking().SingleOrDefaultAsync(m => m.Id == measurementId, cancellationToken);
        return new StoredRun(chunks.Sum(c => (long)c.SampleCount), chunks.Count, contiguous, row);
    }

    /// <summary>A context on an app's database: PostgreSQL when <paramref name="postgres"/> is set, else the SQLite file in <paramref name="dataDirectory"/>.</summary>
    public static AppDbContext Open(string postgres, string dataDirectory) => postgres.Length > 0
        // No pooling: the server may have been stopped and started since the last read.
        ? new PostgresAppDbContext(new DbContextOptionsBuilder<PostgresAppDbContext>().UseNpgsql(new Npgsql.NpgsqlConnectionStringBuilder(postgres) { Pooling = false }.ConnectionString).Options)
        : new SqliteAppDbContext(new DbContextOptionsBuilder<SqliteAppDbContext>().UseSqlite($"Data Source={Path.Combine(dataDirectory, "measureapp.db")};Pooling=False").Options);
}
