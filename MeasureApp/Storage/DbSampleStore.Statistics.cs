using System.Data.Common;
using System.Globalization;
using MeasureApp.Acquisition.Storage;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Storage;

/// <summary>Exact statistics of a range from the pyramid's per-row sums, and the rebuild of sums for rows stored before them.</summary>
public sealed partial class DbSampleStore
{
    /// <inheritdoc />
    /// <remarks>
    /// The chunks holding the two ends of the range are read raw (only when the range starts or ends
    /// inside them); everything between is made of whole chunks and is covered by the coarsest pyramid
    /// rows that lie entirely inside it, level by level down to single chunks. Two round trips: one batch
    /// for the extent and the two end chunks, one query for the rows of every level that can be needed
    /// (all rows of the coarsest level inside, and near both ends on the finer ones). Only a region those
    /// rows leave uncovered — a chunk stored before the sums and not yet rebuilt, or an index gap between
    /// chunks — costs more queries (finer levels, then raw), so the answer is exact either way.
    /// </remarks>
    public async Task<RangeStatistics> ReadStatisticsAsync(Guid measurementId, long fromIndex, long toIndex, IReadOnlyList<int>? channels, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var connection = await OpenAsync(db, cancellationToken);
        var from = Math.Max(0, fromIndex);
        var (extentOrNull, first, last) = await ReadEndsAsync(connection, measurementId, from, toIndex, cancellationToken);
        var trips = 1;
        if (extentOrNull is not { } extent)
        {
            var none = RangeDecimator.SelectChannels(channels, channels is { Count: > 0 } ? channels.Max() + 1 : 0);
            return new StatisticsAccumulator(none).ToStatistics(fromIndex, fromIndex) with { RoundTrips = trips };
        }
        var selected = RangeDecimator.SelectChannels(channels, extent.ChannelCount);
        var sum = new StatisticsAccumulator(selected);
        var to = Math.Min(toIndex, extent.EndIndex);
        if (from >= to || first is null || last is null)
        {
            return sum.ToStatistics(from, Math.Max(from, to)) with { RoundTrips = trips };
        }
        var lo = first.FirstSampleIndex;
        var hi = last.FirstSampleIndex + last.SampleCount;
        if (first.FirstSampleIndex < from || first.FirstSampleIndex + first.SampleCount > to)
        {
            sum.AddRaw(first, from, to);
            lo = first.FirstSampleIndex + first.SampleCount;
        }
        if (last.FirstSampleIndex < lo)
        {
            hi = lo; // the same chunk as `first`, already added
        }
        else if (hi > to)
        {
            sum.AddRaw(last, from, to);
            hi = last.FirstSampleIndex;
        }

        var gaps = new List<(long Lo, long Hi)>();
        var averageChunk = (double)extent.EndIndex / extent.ChunkCount;
        if (lo < hi)
        {
            gaps.Add((lo, hi));
            var top = TopLevelFor(hi - lo, averageChunk);
            var rows = await ReadCoverRowsAsync(connection, measurementId, top, lo, hi, averageChunk, cancellationToken);
            trips++;
            for (var level = top; level >= SamplePyramid.ChunkLevel && gaps.Count > 0; level--)
            {
                var atLevel = rows.GetValueOrDefault(level) ?? [];
                gaps = Cover(gaps, (gapLo, gapHi) => atLevel.Where(r => r.FirstIndex >= gapLo && r.EndIndex <= gapHi), sum);
            }
        }
        // What the fetched rows leave uncovered (rare): finer levels from the database, then raw.
        for (var level = gaps.Count == 0 ? 0 : gaps.Max(g => TopLevelFor(g.Hi - g.Lo, averageChunk)); level >= SamplePyramid.ChunkLevel && gaps.Count > 0; level--)
        {
            var next = new List<(long, long)>();
            foreach (var (gapLo, gapHi) in gaps)
            {
                var inside = await ReadRowsInsideAsync(connection, measurementId, level, gapLo, gapHi, cancellationToken);
                trips++;
                next.AddRange(Cover([(gapLo, gapHi)], (_, _) => inside, sum));
            }
            gaps = next;
        }
        // What no row with sums covers: chunks stored before the sums (until rebuilt), or no chunk at all (a gap).
        foreach (var (gapLo, gapHi) in gaps)
        {
            await foreach (var chunk in ReadChunkRowsAsync(connection, measurementId, gapLo, gapHi, cancellationToken))
            {
                sum.AddRaw(chunk, gapLo, gapHi);
            }
            trips++;
        }
        return sum.ToStatistics(from, to) with { RoundTrips = trips };
    }

    // Adds the rows (with sums) that lie inside each gap, in order and without overlap; returns what is left uncovered.
    private static List<(long Lo, long Hi)> Cover(List<(long Lo, long Hi)> gaps, Func<long, long, IEnumerable<PyramidRow>> rowsInside, StatisticsAccumulator sum)
    {
        var next = new List<(long, long)>();
        foreach (var (gapLo, gapHi) in gaps)
        {
            var cursor = gapLo;
            foreach (var row in rowsInside(gapLo, gapHi))
            {
                if (row.FirstIndex < cursor || row.Moments is not { Length: > 0 })
                {
                    continue;
                }
                if (row.FirstIndex > cursor)
                {
                    next.Add((cursor, row.FirstIndex));
                }
                sum.AddRow(row);
                cursor = row.EndIndex;
            }
            if (cursor < gapHi)
            {
                next.Add((cursor, gapHi));
            }
        }
        return next;
    }

    /// <summary>
    /// One batch: the extent (channels, end index, chunk count), the first chunk overlapping [from, to) and the
    /// last chunk starting before <paramref name="to"/> (null when it ends before <paramref name="from"/>).
    /// </summary>
    private static async Task<((int ChannelCount, long EndIndex, long ChunkCount)? Extent, StoredChunk? First, StoredChunk? Last)> ReadEndsAsync(
        DbConnection connection, Guid measurementId, long from, long to, CancellationToken ct)
    {
        await using var cmd = Command(connection,
            """
            SELECT channel_count, first_index + sample_count, seq FROM sample_chunks WHERE measurement_id = @m ORDER BY seq DESC LIMIT 1;
            SELECT seq, first_index, t0_ns, sample_count, channel_count, payload, min_max FROM sample_chunks
            WHERE measurement_id = @m AND first_index < @b AND first_index + sample_count > @a AND first_index >= COALESCE(
                (SELECT first_index FROM sample_chunks WHERE measurement_id = @m AND first_index <= @a ORDER BY first_index DESC LIMIT 1), @a)
            ORDER BY first_index LIMIT 1;
            SELECT seq, first_index, t0_ns, sample_count, channel_count, payload, min_max FROM sample_chunks
            WHERE measurement_id = @m AND first_index < @b ORDER BY first_index DESC LIMIT 1;
            """,
            measurementId, ("a", from), ("b", to));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        (int, long, long)? extent = await reader.ReadAsync(ct) ? (reader.GetInt32(0), reader.GetInt64(1), reader.GetInt64(2) + 1) : null;
        StoredChunk? first = null, last = null;
        if (await reader.NextResultAsync(ct) && await reader.ReadAsync(ct))
        {
            first = ToChunk(reader, measurementId);
        }
        if (await reader.NextResultAsync(ct) && await reader.ReadAsync(ct))
        {
            last = ToChunk(reader, measurementId);
        }
        return (extent, first, last is not null && last.FirstSampleIndex + last.SampleCount > from ? last : null);
    }

    /// <summary>
    /// The rows that can cover [lo, hi), by level: every row of <paramref name="top"/> inside it, and on each finer
    /// level the rows inside it within two rows of the next coarser level from either end — the coarser level
    /// covers the middle. Sized from the average chunk: where chunks vary more, the caller's fallback fills in.
    /// </summary>
    private static async Task<Dictionary<int, List<PyramidRow>>> ReadCoverRowsAsync(DbConnection connection, Guid measurementId, int top, long lo, long hi, double averageChunk, CancellationToken ct)
    {
        var sql = new System.Text.StringBuilder(
            """
            SELECT level, seq, first_index, sample_count, channel_count, data, sums FROM sample_levels
            WHERE measurement_id = @m AND first_index >= @a AND first_index + sample_count <= @b AND (level = @top
            """);
        var parameters = new List<(string, object)> { ("a", lo), ("b", hi), ("top", top) };
        for (var level = SamplePyramid.ChunkLevel; level < top; level++)
        {
            var reach = (long)Math.Ceiling(2 * averageChunk * SamplePyramid.ChunksPerEntry(level + 1)) + 1;
            sql.Append(CultureInfo.InvariantCulture, $" OR (level = @l{level} AND (first_index < @s{level} OR first_index >= @e{level}))");
            parameters.Add(($"l{level}", level));
            parameters.Add(($"s{level}", lo + reach));
            parameters.Add(($"e{level}", hi - (2 * reach)));
        }
        sql.Append(") ORDER BY level, first_index");
        await using var cmd = Command(connection, sql.ToString(), measurementId, [.. parameters]);
        var rows = new Dictionary<int, List<PyramidRow>>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var level = reader.GetInt32(0);
            var sums = reader.IsDBNull(6) ? null : reader.GetFieldValue<byte[]>(6);
            var row = PyramidRow.Decode(measurementId, level, reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt32(4), reader.GetFieldValue<byte[]>(5), sums);
            if (!rows.TryGetValue(level, out var list))
            {
                rows[level] = list = [];
            }
            list.Add(row);
        }
        return rows;
    }

    /// <summary>The coarsest level with an entry no longer than the span (no coarser row can lie inside it).</summary>
    private static int TopLevelFor(long samples, double averageChunkSamples)
    {
        for (var level = SamplePyramid.MaxLevel; level > SamplePyramid.ChunkLevel; level--)
        {
            // Half the nominal size: chunks vary in length (gaps, short tails), so stay on the safe side.
            if (samples >= averageChunkSamples * SamplePyramid.ChunksPerEntry(level) / 2)
            {
                return level;
            }
        }
        return SamplePyramid.ChunkLevel;
    }

    private static async Task<IReadOnlyList<PyramidRow>> ReadRowsInsideAsync(DbConnection connection, Guid measurementId, int level, long lo, long hi, CancellationToken ct)
    {
        await using var cmd = Command(connection,
            """
            SELECT seq, first_index, sample_count, channel_count, data, sums FROM sample_levels
            WHERE measurement_id = @m AND level = @l AND first_index >= @a AND first_index < @b AND first_index + sample_count <= @b
            ORDER BY first_index
            """,
            measurementId, ("l", level), ("a", lo), ("b", hi));
        return await ReadRowsAsync(cmd, measurementId, level, ct);
    }

    /// <summary>Pyramid rows (levels ≥ 3) still without sums: stored before the sums existed, or grouped over such rows.</summary>
    public async Task<long> CountRowsWithoutSumsAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Set<Data.SampleLevelRecord>().LongCountAsync(l => l.Sums == null && l.Level >= SamplePyramid.ChunkLevel, cancellationToken);
    }

    /// <summary>
    /// Gives up to <paramref name="maxRows"/> pyramid rows their sums, finest level first: a chunk row from its
    /// raw chunk, a group row by merging its member rows (once they all have sums). Returns the rows updated;
    /// 0 when nothing is left that can be rebuilt. Safe beside the writer: rows are only updated where sums are
    /// still null, and a group over legacy members written meanwhile is picked up by a later call.
    /// </summary>
    public async Task<int> RebuildSumsAsync(int maxRows, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var levels = db.Set<Data.SampleLevelRecord>();
        for (var level = SamplePyramid.ChunkLevel; level <= SamplePyramid.MaxLevel; level++)
        {
            var pending = await levels.Where(l => l.Sums == null && l.Level == level)
                .OrderBy(l => l.MeasurementId).ThenBy(l => l.Sequence)
                .Select(l => new { l.MeasurementId, l.Sequence, l.FirstIndex, l.SampleCount, l.ChannelCount })
                .Take(maxRows).ToListAsync(cancellationToken);
            if (pending.Count == 0)
            {
                continue;
            }
            var connection = await OpenAsync(db, cancellationToken);
            var updated = 0;
            foreach (var row in pending)
            {
                var moments = level == SamplePyramid.ChunkLevel
                    ? await ChunkMomentsAsync(connection, row.MeasurementId, row.FirstIndex, row.FirstIndex + row.SampleCount, cancellationToken)
                    : await MergedMomentsAsync(connection, row.MeasurementId, level, row.FirstIndex, row.FirstIndex + row.SampleCount, row.ChannelCount, cancellationToken);
                // A row that cannot be rebuilt (its chunk or a member is gone or incomplete) gets an empty marker
                // so it is not picked again; readers treat it as "no sums" and go to finer rows.
                var value = moments is null ? [] : ChannelMoments.Encode(moments);
                var id = row.MeasurementId;
                var seq = row.Sequence;
                updated += await levels.Where(l => l.MeasurementId == id && l.Level == level && l.Sequence == seq && l.Sums == null)
                    .ExecuteUpdateAsync(s => s.SetProperty(l => l.Sums, value), cancellationToken);
            }
            return Math.Max(updated, 1);
        }
        return 0;
    }

    private static async Task<ChannelMoments[]?> ChunkMomentsAsync(DbConnection connection, Guid measurementId, long from, long to, CancellationToken ct)
    {
        await foreach (var chunk in ReadChunkRowsAsync(connection, measurementId, from, to, ct, 1))
        {
            return chunk.FirstSampleIndex == from && chunk.FirstSampleIndex + chunk.SampleCount == to ? SamplePyramid.MomentsOf(chunk) : null;
        }
        return null;
    }

    private static async Task<ChannelMoments[]?> MergedMomentsAsync(DbConnection connection, Guid measurementId, int level, long from, long to, int channelCount, CancellationToken ct)
    {
        var members = await ReadRowsInsideAsync(connection, measurementId, level - 1, from, to, ct);
        var moments = new ChannelMoments[channelCount];
        var cursor = from;
        foreach (var m in members)
        {
            if (m.FirstIndex != cursor || m.Moments is not { } mm || mm.Length != channelCount)
            {
                return null;
            }
            for (var c = 0; c < channelCount; c++)
            {
                moments[c] = ChannelMoments.Merge(moments[c], mm[c]);
            }
            cursor = m.EndIndex;
        }
        return cursor == to ? moments : null;
    }
}
