using System.Data.Common;
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
    /// rows that lie entirely inside it, level by level down to single chunks — O(levels) indexed queries.
    /// A region no row with sums covers (a chunk stored before the sums and not yet rebuilt) is read raw,
    /// so the answer is exact either way; an index gap between chunks simply has no samples.
    /// </remarks>
    public async Task<RangeStatistics> ReadStatisticsAsync(Guid measurementId, long fromIndex, long toIndex, IReadOnlyList<int>? channels, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var connection = await OpenAsync(db, cancellationToken);
        if (await ReadExtentAsync(connection, measurementId, cancellationToken) is not { } extent)
        {
            var none = RangeDecimator.SelectChannels(channels, channels is { Count: > 0 } ? channels.Max() + 1 : 0);
            return new StatisticsAccumulator(none).ToStatistics(fromIndex, fromIndex);
        }
        var selected = RangeDecimator.SelectChannels(channels, extent.ChannelCount);
        var sum = new StatisticsAccumulator(selected);
        var from = Math.Max(0, fromIndex);
        var to = Math.Min(toIndex, extent.EndIndex);
        if (from >= to)
        {
            return sum.ToStatistics(from, from);
        }

        StoredChunk? first = null;
        await foreach (var chunk in ReadChunkRowsAsync(connection, measurementId, from, to, cancellationToken, 1))
        {
            first = chunk;
        }
        var last = await ReadLastChunkAsync(connection, measurementId, from, to, cancellationToken);
        if (first is null || last is null)
        {
            return sum.ToStatistics(from, to);
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
        if (lo < hi)
        {
            gaps.Add((lo, hi));
        }
        var averageChunk = (double)extent.EndIndex / extent.ChunkCount;
        for (var level = TopLevelFor(hi - lo, averageChunk); level >= SamplePyramid.ChunkLevel && gaps.Count > 0; level--)
        {
            var next = new List<(long, long)>();
            foreach (var (gapLo, gapHi) in gaps)
            {
                var cursor = gapLo;
                foreach (var row in await ReadRowsInsideAsync(connection, measurementId, level, gapLo, gapHi, cancellationToken))
                {
                    if (row.FirstIndex < cursor || row.Moments is null)
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
            gaps = next;
        }
        // What no row with sums covers: chunks stored before the sums (until rebuilt), or no chunk at all (a gap).
        foreach (var (gapLo, gapHi) in gaps)
        {
            await foreach (var chunk in ReadChunkRowsAsync(connection, measurementId, gapLo, gapHi, cancellationToken))
            {
                sum.AddRaw(chunk, gapLo, gapHi);
            }
        }
        return sum.ToStatistics(from, to);
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

    private static async Task<StoredChunk?> ReadLastChunkAsync(DbConnection connection, Guid measurementId, long from, long to, CancellationToken ct)
    {
        await using var cmd = Command(connection,
            """
            SELECT seq, first_index, t0_ns, sample_count, channel_count, payload, min_max FROM sample_chunks
            WHERE measurement_id = @m AND first_index < @b ORDER BY first_index DESC LIMIT 1
            """,
            measurementId, ("b", to));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        var chunk = ToChunk(reader, measurementId);
        return chunk.FirstSampleIndex + chunk.SampleCount > from ? chunk : null;
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
