using System.Runtime.InteropServices;
using System.Text.Json;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace MeasureApp.Storage;

/// <summary>
/// <see cref="ISampleStore"/> over the app's database: metadata through EF Core, raw chunks through
/// each provider's bulk path (SQLite: one transaction of prepared inserts; PostgreSQL: batched
/// inserts). Both skip a (measurement, seq) that already exists, so a retried batch never duplicates.
/// </summary>
public sealed class DbSampleStore(IDbContextFactory<AppDbContext> contexts) : ISampleStore
{
    /// <inheritdoc />
    public async Task CreateMeasurementAsync(MeasurementInfo info, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(info);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        db.Measurements.Add(ToRecord(info));
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async Task UpdateMeasurementAsync(MeasurementInfo info, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(info);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Measurements.Where(m => m.Id == info.Id).ExecuteUpdateAsync(s => s
            .SetProperty(m => m.State, info.State)
            .SetProperty(m => m.StopReason, info.StopReason)
            .SetProperty(m => m.StopDetail, info.StopDetail)
            .SetProperty(m => m.StoppedAt, info.StoppedAt)
            .SetProperty(m => m.SampleCount, info.SampleCount), cancellationToken);
    }

    /// <inheritdoc />
    public async Task WriteChunksAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        if (chunks.Count == 0)
        {
            return;
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var connection = db.Database.GetDbConnection();
        await connection.OpenAsync(cancellationToken);
        switch (connection)
        {
            case SqliteConnection sqlite:
                await WriteSqliteAsync(sqlite, chunks, cancellationToken);
                break;
            case NpgsqlConnection npgsql:
                await WritePostgresAsync(npgsql, chunks, cancellationToken);
                break;
            default:
                throw new NotSupportedException($"No chunk writer for {connection.GetType().Name}.");
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<StoredChunk>> ReadChunksAsync(Guid measurementId, long fromIndex, long toIndex, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.Set<SampleChunkRecord>().AsNoTracking()
            .Where(c => c.MeasurementId == measurementId && c.FirstSampleIndex < toIndex && c.FirstSampleIndex + c.SampleCount > fromIndex)
            .OrderBy(c => c.Sequence)
            .ToListAsync(cancellationToken);
        return [.. rows.Select(FromRecord)];
    }

    internal static MeasurementRecord ToRecord(MeasurementInfo info) => new()
    {
        Id = info.Id,
        OwnerId = info.OwnerId,
        OwnerName = info.OwnerName,
        Name = info.Name,
        DeviceId = info.DeviceId,
        ChannelsJson = JsonSerializer.Serialize(info.Channels),
        ChannelCount = info.Channels.Count,
        SampleRate = info.SampleRate,
        State = info.State,
        StopReason = info.StopReason,
        StopDetail = info.StopDetail,
        StartedAt = info.StartedAt,
        StoppedAt = info.StoppedAt,
        SampleCount = info.SampleCount,
    };

    private static StoredChunk FromRecord(SampleChunkRecord r)
    {
        var minMax = MemoryMarshal.Cast<byte, float>(r.MinMax.AsSpan());
        return new StoredChunk
        {
            MeasurementId = r.MeasurementId,
            Sequence = r.Sequence,
            FirstSampleIndex = r.FirstSampleIndex,
            T0Ns = r.T0Ns,
            SampleCount = r.SampleCount,
            ChannelCount = r.ChannelCount,
            Payload = r.Payload,
            Min = minMax[..r.ChannelCount].ToArray(),
            Max = minMax[r.ChannelCount..].ToArray(),
        };
    }

    private static byte[] MinMaxBytes(StoredChunk c)
    {
        var bytes = new byte[c.ChannelCount * 2 * sizeof(float)];
        var floats = MemoryMarshal.Cast<byte, float>(bytes.AsSpan());
        c.Min.CopyTo(floats);
        c.Max.CopyTo(floats[c.ChannelCount..]);
        return bytes;
    }

    private static async Task WriteSqliteAsync(SqliteConnection connection, IReadOnlyList<StoredChunk> chunks, CancellationToken ct)
    {
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(ct);
        await using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT OR IGNORE INTO sample_chunks (measurement_id, seq, first_index, t0_ns, sample_count, channel_count, payload, min_max) VALUES ($m, $s, $f, $t, $n, $c, $p, $x)";
        var m = cmd.Parameters.Add("$m", SqliteType.Text);
        var s = cmd.Parameters.Add("$s", SqliteType.Integer);
        var f = cmd.Parameters.Add("$f", SqliteType.Integer);
        var t = cmd.Parameters.Add("$t", SqliteType.Integer);
        var n = cmd.Parameters.Add("$n", SqliteType.Integer);
        var c = cmd.Parameters.Add("$c", SqliteType.Integer);
        var p = cmd.Parameters.Add("$p", SqliteType.Blob);
        var x = cmd.Parameters.Add("$x", SqliteType.Blob);
        await cmd.PrepareAsync(ct);
        foreach (var chunk in chunks)
        {
            // EF Core's SQLite provider stores Guid as upper-case text.
            m.Value = chunk.MeasurementId.ToString().ToUpperInvariant();
            s.Value = chunk.Sequence;
            f.Value = chunk.FirstSampleIndex;
            t.Value = chunk.T0Ns;
            n.Value = chunk.SampleCount;
            c.Value = chunk.ChannelCount;
            p.Value = chunk.Payload;
            x.Value = MinMaxBytes(chunk);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
    }

    private static async Task WritePostgresAsync(NpgsqlConnection connection, IReadOnlyList<StoredChunk> chunks, CancellationToken ct)
    {
        await using var batch = connection.CreateBatch();
        foreach (var chunk in chunks)
        {
            var cmd = batch.CreateBatchCommand();
            cmd.CommandText = "INSERT INTO sample_chunks (measurement_id, seq, first_index, t0_ns, sample_count, channel_count, payload, min_max) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";
            cmd.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = chunk.MeasurementId });
            cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = chunk.Sequence });
            cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = chunk.FirstSampleIndex });
            cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = chunk.T0Ns });
            cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = chunk.SampleCount });
            cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = chunk.ChannelCount });
            cmd.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = chunk.Payload });
            cmd.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = MinMaxBytes(chunk) });
            batch.BatchCommands.Add(cmd);
        }
        await batch.ExecuteNonQueryAsync(ct);
    }
}
