using System.Data.Common;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.History;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using NpgsqlTypes;

namespace MeasureApp.Storage;

/// <summary>
/// <see cref="ISampleStore"/> over the app's database: metadata through EF Core, raw chunks and the
/// min/max pyramid (sample_levels) through each provider's bulk path — PostgreSQL: binary COPY;
/// SQLite: one transaction of prepared INSERT OR IGNORE. A (measurement, seq) that already exists is
/// skipped, so a retried or replayed batch never duplicates. History reads answer from the pyramid
/// and touch raw chunks only when zoomed in below 64 samples per pixel.
/// </summary>
public sealed partial class DbSampleStore(IDbContextFactory<AppDbContext> contexts) : ISampleStore
{
    /// <summary>Most columns a decimated read may ask for.</summary>
    public const int MaxPixels = 100_000;

    private const int DeleteBatchChunks = 1024;
    private const int RawPageChunks = 16;

    /// <inheritdoc />
    public async Task CreateMeasurementAsync(MeasurementInfo info, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(info);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        db.Measurements.Add(info.ToRecord());
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
            .SetProperty(m => m.SampleCount, info.SampleCount)
            .SetProperty(m => m.FaultsJson, MeasurementFaults.ToJson(info.Faults)), cancellationToken);
    }

    /// <inheritdoc />
    public async Task SettleSampleCountsAsync(IReadOnlyCollection<Guid> measurementIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(measurementIds);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        foreach (var id in measurementIds)
        {
            var row = await db.Measurements.AsNoTracking().SingleOrDefaultAsync(m => m.Id == id, cancellationToken);
            if (row is null || row.State != MeasurementState.Stopped)
            {
                // Still running (its final save follows in the spool), or deleted meanwhile.
                continue;
            }
            var samples = await db.Set<SampleChunkRecord>().Where(c => c.MeasurementId == id).SumAsync(c => (long)c.SampleCount, cancellationToken);
            if (samples <= row.SampleCount)
            {
                continue;
            }
            // An orphan's stop time was derived from its count; derive it again from the full count.
            var stoppedAt = row.StoppedAt;
            if (row.StopDetail == OrphanedMeasurements.Detail && row.SampleRate > 0 && stoppedAt is { } at)
            {
                var lastSample = row.StartedAt + TimeSpan.FromSeconds(samples / row.SampleRate);
                stoppedAt = lastSample > at ? lastSample : at;
            }
            await db.Measurements.Where(m => m.Id == id && m.SampleCount < samples).ExecuteUpdateAsync(s => s
                .SetProperty(m => m.SampleCount, samples)
                .SetProperty(m => m.StoppedAt, stoppedAt), cancellationToken);
        }
    }

    /// <inheritdoc />
    public async Task WriteChunksAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        if (chunks.Count == 0)
        {
            return;
        }
        // The pyramid's finest levels come from the payload; computed before the transaction opens.
        var rows = new (PyramidRow Fine, PyramidRow Coarse, PyramidRow Chunk)[chunks.Count];
        for (var i = 0; i < chunks.Count; i++)
        {
            rows[i] = SamplePyramid.BuildChunkRows(chunks[i]);
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var connection = db.Database.GetDbConnection();
        await connection.OpenAsync(cancellationToken);
        switch (connection)
        {
            case SqliteConnection sqlite:
                await WriteSqliteAsync(sqlite, chunks, rows, cancellationToken);
                break;
            case NpgsqlConnection npgsql:
                try
                {
                    await WritePostgresAsync(npgsql, chunks, rows, cancellationToken);
                }
                catch (NpgsqlException)
                {
                    // After a server restart every idle pooled connection is dead; drop them all at once
                    // instead of discovering them one failed retry at a time.
                    NpgsqlConnection.ClearPool(npgsql);
                    throw;
                }
                break;
            default:
                throw new NotSupportedException($"No chunk writer for {connection.GetType().Name}.");
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<StoredChunk>> ReadChunksAsync(Guid measurementId, long fromIndex, long toIndex, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var connection = await OpenAsync(db, cancellationToken);
        var result = new List<StoredChunk>();
        await foreach (var chunk in ReadChunkRowsAsync(connection, measurementId, fromIndex, toIndex, cancellationToken))
        {
            result.Add(chunk);
        }
        return result;
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<SampleSegment> ReadRawAsync(Guid measurementId, long fromIndex, long toIndex, IReadOnlyList<int>? channels, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Pages of a few chunks, each read on a connection taken from the pool and handed back before
        // the page is yielded: an export streams to a slow client for minutes, and neither a statement
        // (or SQLite table lock) nor a pooled connection stays held while it does — a hundred slow
        // downloads on PostgreSQL must not starve everyone else's logins of connections.
        var cursor = fromIndex;
        var page = new List<StoredChunk>(RawPageChunks);
        while (cursor < toIndex)
        {
            page.Clear();
            await ReadPageAsync(measurementId, cursor, toIndex, page, cancellationToken);
            if (page.Count == 0)
            {
                yield break;
            }
            foreach (var chunk in page)
            {
                if (SampleSegment.Trim(chunk, fromIndex, toIndex, channels) is { } segment)
                {
                    yield return segment;
                }
            }
            cursor = page[^1].FirstSampleIndex + page[^1].SampleCount;
        }
    }

    private async Task ReadPageAsync(Guid measurementId, long from, long to, List<StoredChunk> page, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var connection = await OpenAsync(db, cancellationToken);
        await foreach (var chunk in ReadChunkRowsAsync(connection, measurementId, from, to, cancellationToken, RawPageChunks))
        {
            page.Add(chunk);
        }
    }

    /// <inheritdoc />
    public async Task<DecimatedRange> ReadDecimatedAsync(Guid measurementId, long fromIndex, long toIndex, int pixels, IReadOnlyList<int>? channels, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pixels, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pixels, MaxPixels);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var connection = await OpenAsync(db, cancellationToken);
        if (await ReadExtentAsync(connection, measurementId, cancellationToken) is not { } extent)
        {
            return DecimatedRange.Empty(measurementId, fromIndex);
        }
        var selected = RangeDecimator.SelectChannels(channels, extent.ChannelCount);
        var from = Math.Max(0, fromIndex);
        var to = Math.Min(toIndex, extent.EndIndex);
        if (from >= to)
        {
            return DecimatedRange.Empty(measurementId, fromIndex);
        }

        var reader = new LevelReader(connection, measurementId);
        for (var level = ChooseLevel(to - from, pixels, (double)extent.EndIndex / extent.ChunkCount); level >= 1; level--)
        {
            var entries = new List<(PyramidRow, int)>();
            await reader.CollectAsync(level, from, to, entries, cancellationToken);
            // The estimate can miss at the edges of the data; one level finer then.
            if (entries.Count >= pixels)
            {
                return RangeDecimator.ForEntries(entries, from, to, pixels, selected).ToRange(measurementId, level, reader.RowsRead)
                    with { RawSamplesRead = reader.RawSamplesRead };
            }
        }
        var grid = RangeDecimator.ForRaw(from, to, pixels, selected);
        await foreach (var chunk in ReadChunkRowsAsync(connection, measurementId, from, to, cancellationToken))
        {
            grid.AddRaw(chunk);
        }
        return grid.ToRange(measurementId, 0, reader.RowsRead);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Only chunks whose time stamp is off their predecessor's run (beyond rounding) or that have no
    /// adjacent predecessor come back: a measurement without gaps answers one row, whatever its length.
    /// </remarks>
    public async Task<SampleRuns> ReadRunsAsync(Guid measurementId, double sampleRate, CancellationToken cancellationToken)
    {
        var rate = sampleRate > 0 && double.IsFinite(sampleRate) ? sampleRate : 1;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var connection = await OpenAsync(db, cancellationToken);
        var end = await ReadExtentAsync(connection, measurementId, cancellationToken) is { } extent ? extent.EndIndex : 0;
        await using var cmd = Command(connection,
            """
            SELECT c.first_index, c.t0_ns, p.first_index, p.t0_ns, p.first_index + p.sample_count FROM sample_chunks c
            LEFT JOIN sample_chunks p ON p.measurement_id = c.measurement_id AND p.seq = c.seq - 1
            WHERE c.measurement_id = @m AND (p.seq IS NULL OR p.first_index + p.sample_count <> c.first_index
                OR ABS(CAST(c.t0_ns - p.t0_ns AS DOUBLE PRECISION) - CAST(c.first_index - p.first_index AS DOUBLE PRECISION) * @ns) > 1.5)
            ORDER BY c.seq
            """,
            measurementId, ("ns", 1e9 / rate));
        var runs = new List<SampleRun>();
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var first = reader.GetInt64(0);
            var t0 = reader.GetInt64(1);
            if (reader.IsDBNull(2))
            {
                // The first chunk, or one whose predecessor is missing (a gap in the stored data).
                runs.Add(new SampleRun(first, t0, runs.Count > 0));
            }
            else if (SampleRuns.RunStart(first, t0, reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4) == first, rate) is { } run)
            {
                runs.Add(run);
            }
        }
        return new SampleRuns(runs, end, rate);
    }

    /// <inheritdoc cref="ISampleStore.DeleteSamplesAsync"/>
    /// <remarks>
    /// Pyramid rows go first,
    /// in their own statement, so an interrupted delete never leaves summaries of data that is gone —
    /// and chunks go in batches so a SQLite writer is never locked out for long.
    /// </remarks>
    public async Task DeleteSamplesAsync(Guid measurementId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Set<SampleLevelRecord>().Where(l => l.MeasurementId == measurementId).ExecuteDeleteAsync(cancellationToken);
        var last = await db.Set<SampleChunkRecord>().Where(c => c.MeasurementId == measurementId)
            .OrderByDescending(c => c.Sequence).Select(c => (long?)c.Sequence).FirstOrDefaultAsync(cancellationToken);
        for (var lo = 0L; last is { } max && lo <= max; lo += DeleteBatchChunks)
        {
            var hi = lo + DeleteBatchChunks;
            await db.Set<SampleChunkRecord>()
                .Where(c => c.MeasurementId == measurementId && c.Sequence >= lo && c.Sequence < hi)
                .ExecuteDeleteAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Level for a range of <paramref name="samples"/> at <paramref name="pixels"/> columns: the coarsest
    /// whose entries still number at least one per pixel; 0 (raw) below 64 samples per pixel.
    /// </summary>
    internal static int ChooseLevel(long samples, int pixels, double averageChunkSamples)
    {
        for (var level = SamplePyramid.MaxLevel; level >= SamplePyramid.ChunkLevel; level--)
        {
            if (samples / (averageChunkSamples * SamplePyramid.ChunksPerEntry(level)) >= pixels)
            {
                return level;
            }
        }
        for (var level = SamplePyramid.ChunkLevel - 1; level >= 1; level--)
        {
            // A chunk shorter than a bucket is one entry.
            if (samples / Math.Min(SamplePyramid.BucketSamples(level), averageChunkSamples) >= pixels)
            {
                return level;
            }
        }
        return 0;
    }

    private static async Task<DbConnection> OpenAsync(AppDbContext db, CancellationToken ct)
    {
        var connection = db.Database.GetDbConnection();
        await connection.OpenAsync(ct);
        return connection;
    }

    // EF Core's SQLite provider stores Guid as upper-case text; PostgreSQL has uuid.
    private static object Key(DbConnection connection, Guid id) =>
        connection is SqliteConnection ? id.ToString().ToUpperInvariant() : id;

    private static DbCommand Command(DbConnection connection, string sql, Guid measurementId, params (string Name, object Value)[] parameters)
    {
        var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        var m = cmd.CreateParameter();
        m.ParameterName = "m";
        m.Value = Key(connection, measurementId);
        cmd.Parameters.Add(m);
        foreach (var (name, value) in parameters)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value;
            cmd.Parameters.Add(p);
        }
        return cmd;
    }

    private static async Task<(int ChannelCount, long EndIndex, long ChunkCount)?> ReadExtentAsync(DbConnection connection, Guid measurementId, CancellationToken ct)
    {
        await using var cmd = Command(connection,
            "SELECT channel_count, first_index + sample_count, seq FROM sample_chunks WHERE measurement_id = @m ORDER BY seq DESC LIMIT 1",
            measurementId);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        return (reader.GetInt32(0), reader.GetInt64(1), reader.GetInt64(2) + 1);
    }

    /// <summary>Chunks overlapping [from, to) in sample order; the index seek starts at the chunk holding <paramref name="from"/>.</summary>
    private static async IAsyncEnumerable<StoredChunk> ReadChunkRowsAsync(DbConnection connection, Guid measurementId, long from, long to, [EnumeratorCancellation] CancellationToken ct, int limit = int.MaxValue)
    {
        await using var cmd = Command(connection,
            """
            SELECT seq, first_index, t0_ns, sample_count, channel_count, payload, min_max FROM sample_chunks
            WHERE measurement_id = @m AND first_index < @b AND first_index + sample_count > @a AND first_index >= COALESCE(
                (SELECT first_index FROM sample_chunks WHERE measurement_id = @m AND first_index <= @a ORDER BY first_index DESC LIMIT 1), @a)
            ORDER BY first_index
            LIMIT @n
            """,
            measurementId, ("a", from), ("b", to), ("n", limit));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            yield return ToChunk(reader, measurementId);
        }
    }

    /// <summary>A chunk from a row of (seq, first_index, t0_ns, sample_count, channel_count, payload, min_max).</summary>
    private static StoredChunk ToChunk(DbDataReader reader, Guid measurementId)
    {
        var channels = reader.GetInt32(4);
        var minMax = MemoryMarshal.Cast<byte, float>(reader.GetFieldValue<byte[]>(6).AsSpan());
        return new StoredChunk
        {
            MeasurementId = measurementId,
            Sequence = reader.GetInt64(0),
            FirstSampleIndex = reader.GetInt64(1),
            T0Ns = reader.GetInt64(2),
            SampleCount = reader.GetInt32(3),
            ChannelCount = channels,
            Payload = reader.GetFieldValue<byte[]>(5),
            Min = minMax[..channels].ToArray(),
            Max = minMax[channels..].ToArray(),
        };
    }

    private static async Task<IReadOnlyList<PyramidRow>> ReadLevelRowsAsync(DbConnection connection, DbTransaction? transaction, Guid measurementId, int level, long fromSeq, long toSeq, CancellationToken ct)
    {
        await using var cmd = Command(connection,
            "SELECT seq, first_index, sample_count, channel_count, data, sums FROM sample_levels WHERE measurement_id = @m AND level = @l AND seq >= @lo AND seq <= @hi ORDER BY seq",
            measurementId, ("l", level), ("lo", fromSeq), ("hi", toSeq));
        cmd.Transaction = transaction;
        return await ReadRowsAsync(cmd, measurementId, level, ct);
    }

    private static async Task<IReadOnlyList<PyramidRow>> ReadRowsAsync(DbCommand cmd, Guid measurementId, int level, CancellationToken ct)
    {
        var rows = new List<PyramidRow>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            // The sums column is selected only by the readers that use it (upper-level builds, statistics).
            var sums = reader.FieldCount > 5 && !reader.IsDBNull(5) ? reader.GetFieldValue<byte[]>(5) : null;
            rows.Add(PyramidRow.Decode(measurementId, level, reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt32(3), reader.GetFieldValue<byte[]>(4), sums));
        }
        return rows;
    }

    private static byte[] MinMaxBytes(StoredChunk c)
    {
        var bytes = new byte[c.ChannelCount * 2 * sizeof(float)];
        var floats = MemoryMarshal.Cast<byte, float>(bytes.AsSpan());
        c.Min.CopyTo(floats);
        c.Max.CopyTo(floats[c.ChannelCount..]);
        return bytes;
    }

    private static async Task WriteSqliteAsync(SqliteConnection connection, IReadOnlyList<StoredChunk> chunks, (PyramidRow Fine, PyramidRow Coarse, PyramidRow Chunk)[] rows, CancellationToken ct)
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
        await using var levels = new SqliteLevelInsert(connection, tx);
        await levels.PrepareAsync(ct);
        var fresh = new List<PyramidRow>();
        for (var i = 0; i < chunks.Count; i++)
        {
            var chunk = chunks[i];
            m.Value = chunk.MeasurementId.ToString().ToUpperInvariant();
            s.Value = chunk.Sequence;
            f.Value = chunk.FirstSampleIndex;
            t.Value = chunk.T0Ns;
            n.Value = chunk.SampleCount;
            c.Value = chunk.ChannelCount;
            p.Value = chunk.Payload;
            x.Value = MinMaxBytes(chunk);
            if (await cmd.ExecuteNonQueryAsync(ct) == 1)
            {
                // Only a chunk stored now gets pyramid rows: a replayed one has them already.
                await levels.InsertAsync(rows[i].Fine, ct);
                await levels.InsertAsync(rows[i].Coarse, ct);
                await levels.InsertAsync(rows[i].Chunk, ct);
                fresh.Add(rows[i].Chunk);
            }
        }
        var upper = await SamplePyramid.BuildUpperLevelsAsync(fresh, (id, level, lo, hi, token) => ReadLevelRowsAsync(connection, tx, id, level, lo, hi, token), ct);
        foreach (var row in upper)
        {
            await levels.InsertAsync(row, ct);
        }
        await tx.CommitAsync(ct);
    }

    private static async Task WritePostgresAsync(NpgsqlConnection connection, IReadOnlyList<StoredChunk> chunks, (PyramidRow Fine, PyramidRow Coarse, PyramidRow Chunk)[] rows, CancellationToken ct)
    {
        await using var tx = await connection.BeginTransactionAsync(ct);

        // Idempotency without a staging table: under a per-measurement transaction lock, find which
        // (measurement, seq) already exist and COPY only the others straight into the table. COPY
        // into a temp table + INSERT … SELECT would move every payload byte twice (and re-TOAST it);
        // the lock makes check-then-COPY atomic against a second writer, and the primary key stays
        // the last line of defence (a race would fail the batch, to be retried, never duplicate).
        foreach (var id in chunks.Select(ch => ch.MeasurementId).Distinct().Order())
        {
            await using var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", connection, tx);
            lockCmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = LockKey(id) });
            await lockCmd.ExecuteNonQueryAsync(ct);
        }
        var existing = new HashSet<(Guid, long)>();
        await using (var check = new NpgsqlCommand(
            "SELECT c.measurement_id, c.seq FROM sample_chunks c JOIN unnest($1::uuid[], $2::bigint[]) AS k(m, s) ON c.measurement_id = k.m AND c.seq = k.s",
            connection, tx))
        {
            check.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. chunks.Select(ch => ch.MeasurementId)] });
            check.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. chunks.Select(ch => ch.Sequence)] });
            await using var reader = await check.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                existing.Add((reader.GetGuid(0), reader.GetInt64(1)));
            }
        }
        var fresh = Enumerable.Range(0, chunks.Count).Where(i => !existing.Contains((chunks[i].MeasurementId, chunks[i].Sequence))).ToList();
        if (fresh.Count == 0)
        {
            await tx.CommitAsync(ct);
            return;
        }

        await using (var copy = await connection.BeginBinaryImportAsync(
            "COPY sample_chunks (measurement_id, seq, first_index, t0_ns, sample_count, channel_count, payload, min_max) FROM STDIN (FORMAT BINARY)", ct))
        {
            foreach (var i in fresh)
            {
                var chunk = chunks[i];
                await copy.StartRowAsync(ct);
                await copy.WriteAsync(chunk.MeasurementId, NpgsqlDbType.Uuid, ct);
                await copy.WriteAsync(chunk.Sequence, NpgsqlDbType.Bigint, ct);
                await copy.WriteAsync(chunk.FirstSampleIndex, NpgsqlDbType.Bigint, ct);
                await copy.WriteAsync(chunk.T0Ns, NpgsqlDbType.Bigint, ct);
                await copy.WriteAsync(chunk.SampleCount, NpgsqlDbType.Integer, ct);
                await copy.WriteAsync(chunk.ChannelCount, NpgsqlDbType.Integer, ct);
                await copy.WriteAsync(chunk.Payload, NpgsqlDbType.Bytea, ct);
                await copy.WriteAsync(MinMaxBytes(chunk), NpgsqlDbType.Bytea, ct);
            }
            await copy.CompleteAsync(ct);
        }
        await using (var copy = await connection.BeginBinaryImportAsync(
            "COPY sample_levels (measurement_id, level, seq, first_index, sample_count, channel_count, data, sums) FROM STDIN (FORMAT BINARY)", ct))
        {
            foreach (var i in fresh)
            {
                await CopyLevelRowAsync(copy, rows[i].Fine, ct);
                await CopyLevelRowAsync(copy, rows[i].Coarse, ct);
                await CopyLevelRowAsync(copy, rows[i].Chunk, ct);
            }
            await copy.CompleteAsync(ct);
        }

        var upper = await SamplePyramid.BuildUpperLevelsAsync([.. fresh.Select(i => rows[i].Chunk)],
            (id, level, lo, hi, token) => ReadLevelRowsAsync(connection, tx, id, level, lo, hi, token), ct);
        if (upper.Count > 0)
        {
            await using var batch = new NpgsqlBatch(connection, tx);
            foreach (var row in upper)
            {
                var cmd = batch.CreateBatchCommand();
                cmd.CommandText = "INSERT INTO sample_levels (measurement_id, level, seq, first_index, sample_count, channel_count, data, sums) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";
                cmd.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = row.MeasurementId });
                cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = row.Level });
                cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = row.Sequence });
                cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = row.FirstIndex });
                cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = row.SampleCount });
                cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = row.ChannelCount });
                cmd.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = row.EncodeEntries() });
                cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bytea, Value = (object?)row.EncodeMoments() ?? DBNull.Value });
                batch.BatchCommands.Add(cmd);
            }
            await batch.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
    }

    private static async Task CopyLevelRowAsync(NpgsqlBinaryImporter copy, PyramidRow row, CancellationToken ct)
    {
        await copy.StartRowAsync(ct);
        await copy.WriteAsync(row.MeasurementId, NpgsqlDbType.Uuid, ct);
        await copy.WriteAsync(row.Level, NpgsqlDbType.Integer, ct);
        await copy.WriteAsync(row.Sequence, NpgsqlDbType.Bigint, ct);
        await copy.WriteAsync(row.FirstIndex, NpgsqlDbType.Bigint, ct);
        await copy.WriteAsync(row.SampleCount, NpgsqlDbType.Bigint, ct);
        await copy.WriteAsync(row.ChannelCount, NpgsqlDbType.Integer, ct);
        await copy.WriteAsync(row.EncodeEntries(), NpgsqlDbType.Bytea, ct);
        if (row.EncodeMoments() is { } sums)
        {
            await copy.WriteAsync(sums, NpgsqlDbType.Bytea, ct);
        }
        else
        {
            await copy.WriteNullAsync(ct);
        }
    }

    private static long LockKey(Guid id)
    {
        Span<byte> bytes = stackalloc byte[16];
        id.TryWriteBytes(bytes);
        return BitConverter.ToInt64(bytes) ^ BitConverter.ToInt64(bytes[8..]);
    }

    /// <summary>Prepared INSERT OR IGNORE of pyramid rows inside a SQLite write transaction.</summary>
    private sealed class SqliteLevelInsert : IAsyncDisposable
    {
        private readonly SqliteCommand _cmd;
        private readonly SqliteParameter _m, _l, _s, _f, _n, _c, _d, _x;

        public SqliteLevelInsert(SqliteConnection connection, SqliteTransaction tx)
        {
            _cmd = connection.CreateCommand();
            _cmd.Transaction = tx;
            _cmd.CommandText = "INSERT OR IGNORE INTO sample_levels (measurement_id, level, seq, first_index, sample_count, channel_count, data, sums) VALUES ($m, $l, $s, $f, $n, $c, $d, $x)";
            _m = _cmd.Parameters.Add("$m", SqliteType.Text);
            _l = _cmd.Parameters.Add("$l", SqliteType.Integer);
            _s = _cmd.Parameters.Add("$s", SqliteType.Integer);
            _f = _cmd.Parameters.Add("$f", SqliteType.Integer);
            _n = _cmd.Parameters.Add("$n", SqliteType.Integer);
            _c = _cmd.Parameters.Add("$c", SqliteType.Integer);
            _d = _cmd.Parameters.Add("$d", SqliteType.Blob);
            _x = _cmd.Parameters.Add("$x", SqliteType.Blob);
        }

        public Task PrepareAsync(CancellationToken ct) => _cmd.PrepareAsync(ct);

        public async Task InsertAsync(PyramidRow row, CancellationToken ct)
        {
            _m.Value = row.MeasurementId.ToString().ToUpperInvariant();
            _l.Value = row.Level;
            _s.Value = row.Sequence;
            _f.Value = row.FirstIndex;
            _n.Value = row.SampleCount;
            _c.Value = row.ChannelCount;
            _d.Value = row.EncodeEntries();
            _x.Value = (object?)row.EncodeMoments() ?? DBNull.Value;
            await _cmd.ExecuteNonQueryAsync(ct);
        }

        public ValueTask DisposeAsync() => _cmd.DisposeAsync();
    }

    /// <summary>
    /// Collects pyramid entries covering a range at one level; where that level has no row yet (the
    /// unfinished tail of a group, or data stored before the pyramid existed) it fills the gap from
    /// the next finer level, down to raw chunks.
    /// </summary>
    private sealed class LevelReader(DbConnection connection, Guid measurementId)
    {
        public long RowsRead { get; private set; }

        public long RawSamplesRead { get; private set; }

        public async Task CollectAsync(int level, long from, long to, List<(PyramidRow, int)> entries, CancellationToken ct)
        {
            if (level == 0)
            {
                await foreach (var chunk in ReadChunkRowsAsync(connection, measurementId, from, to, ct))
                {
                    RawSamplesRead += chunk.SampleCount;
                    AddOverlapping(SamplePyramid.BuildBuckets(chunk), from, to, entries);
                }
                return;
            }
            await using var cmd = Command(connection,
                """
                SELECT seq, first_index, sample_count, channel_count, data FROM sample_levels
                WHERE measurement_id = @m AND level = @l AND first_index < @b AND first_index >= COALESCE(
                    (SELECT first_index FROM sample_levels WHERE measurement_id = @m AND level = @l AND first_index <= @a ORDER BY first_index DESC LIMIT 1), @a)
                ORDER BY first_index
                """,
                measurementId, ("l", level), ("a", from), ("b", to));
            var rows = await ReadRowsAsync(cmd, measurementId, level, ct);
            RowsRead += rows.Count;
            var cursor = from;
            foreach (var row in rows)
            {
                if (row.EndIndex <= from)
                {
                    continue;
                }
                if (row.FirstIndex > cursor)
                {
                    await CollectAsync(level - 1, cursor, row.FirstIndex, entries, ct);
                }
                AddOverlapping(row, from, to, entries);
                cursor = row.EndIndex;
            }
            if (cursor < to)
            {
                await CollectAsync(level - 1, cursor, to, entries, ct);
            }
        }

        private static void AddOverlapping(PyramidRow row, long from, long to, List<(PyramidRow, int)> entries)
        {
            for (var e = 0; e < row.EntryCount; e++)
            {
                if (row.EntryEnd(e) > from && row.EntryStart(e) < to)
                {
                    entries.Add((row, e));
                }
            }
        }
    }
}
