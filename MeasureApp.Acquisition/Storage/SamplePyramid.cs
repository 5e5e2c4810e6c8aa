using System.Buffers.Binary;
using MeasureApp.Acquisition.Live;

namespace MeasureApp.Acquisition.Storage;

/// <summary>
/// What one run of samples of one channel looks like from far away: its extremes (with the sample
/// index where each occurs) and its first and last values — exactly what M4 needs to draw the run.
/// </summary>
/// <param name="Min">Smallest value.</param>
/// <param name="Max">Largest value.</param>
/// <param name="First">Value of the first sample.</param>
/// <param name="Last">Value of the last sample.</param>
/// <param name="MinIndex">Sample index of the (first) minimum.</param>
/// <param name="MaxIndex">Sample index of the (first) maximum.</param>
public readonly record struct ChannelSummary(float Min, float Max, float First, float Last, long MinIndex, long MaxIndex)
{
    /// <summary>Summary of two adjacent runs, <paramref name="earlier"/> directly before <paramref name="later"/>.</summary>
    public static ChannelSummary Merge(in ChannelSummary earlier, in ChannelSummary later)
    {
        // Ties keep the earlier extreme, as a left-to-right scan would.
        var (min, minAt) = later.Min < earlier.Min ? (later.Min, later.MinIndex) : (earlier.Min, earlier.MinIndex);
        var (max, maxAt) = later.Max > earlier.Max ? (later.Max, later.MaxIndex) : (earlier.Max, earlier.MaxIndex);
        return new ChannelSummary(min, max, earlier.First, later.Last, minAt, maxAt);
    }

    /// <summary>Summary of raw values whose first sample has index <paramref name="firstIndex"/>.</summary>
    public static ChannelSummary Of(ReadOnlySpan<float> values, long firstIndex)
    {
        var (min, max) = values.Length >= 16 ? M4.MinMax(values) : M4.MinMaxScalar(values);
        // IndexOf is vectorised; -1 only when every value is NaN (then min/max are ±∞ and the index is moot).
        var minAt = Math.Max(0, values.IndexOf(min));
        var maxAt = Math.Max(0, values.IndexOf(max));
        return new ChannelSummary(min, max, values[0], values[^1], firstIndex + minAt, firstIndex + maxAt);
    }
}

/// <summary>
/// One stored row of the min/max pyramid. Levels 1 and 2 hold, for one chunk, a summary per 64
/// and per 1024 samples (<see cref="SamplePyramid.BucketSamples"/>); level 3 one summary of the
/// whole chunk; level L ≥ 4 one summary of 4^(L−3) consecutive chunks (<see cref="SamplePyramid.GroupFanOut"/>).
/// Levels 1 → 2 are 16 times coarser, 2 → 3 by the chunk size (a 0.1 s chunk at 100 kHz holds about
/// 10 level-2 entries), and from 3 up 4 times, so a read at the coarsest level that still has one
/// entry per pixel touches at most about 4 entries per pixel. Rows tile the sample axis at every level.
/// (Measurements stored before 2026-11-24 have groups of 16 at levels ≥ 4; readers only rely on each
/// row's own first index and length, so those rows still read correctly.)
/// </summary>
public sealed class PyramidRow
{
    /// <summary>Measurement id.</summary>
    public required Guid MeasurementId { get; init; }

    /// <summary>Pyramid level (1, 2 = buckets inside a chunk, 3 = chunk, L ≥ 4 = group of 4^(L−3) chunks).</summary>
    public required int Level { get; init; }

    /// <summary>Levels 1–3: the chunk's sequence number; level L ≥ 4: the group number.</summary>
    public required long Sequence { get; init; }

    /// <summary>Sample index of the first sample covered.</summary>
    public required long FirstIndex { get; init; }

    /// <summary>Samples per channel covered (rows are contiguous: the next row starts at FirstIndex + SampleCount).</summary>
    public required long SampleCount { get; init; }

    /// <summary>Channel count.</summary>
    public required int ChannelCount { get; init; }

    /// <summary>Summaries, entry-major: entry e of channel c is at [e · ChannelCount + c].</summary>
    public required ChannelSummary[] Entries { get; init; }

    /// <summary>
    /// Per channel count, sum and M2 of the whole row, for exact statistics of a range. Kept on rows of
    /// levels ≥ 3 only (one entry per row), so a range needs at most two partial chunks of raw data; null on
    /// levels 1 and 2 and on rows stored before the sums existed (rebuilt in the background).
    /// </summary>
    public ChannelMoments[]? Moments { get; init; }

    /// <summary>Entries in this row (levels 1, 2: buckets of the chunk; otherwise one).</summary>
    public int EntryCount => Entries.Length / ChannelCount;

    /// <summary>Sample index after the last one covered.</summary>
    public long EndIndex => FirstIndex + SampleCount;

    /// <summary>First sample index of entry <paramref name="entry"/>.</summary>
    public long EntryStart(int entry) => Level < SamplePyramid.ChunkLevel ? FirstIndex + (long)entry * SamplePyramid.BucketSamples(Level) : FirstIndex;

    /// <summary>Sample index after entry <paramref name="entry"/>.</summary>
    public long EntryEnd(int entry) => Level < SamplePyramid.ChunkLevel ? Math.Min(EndIndex, FirstIndex + (long)(entry + 1) * SamplePyramid.BucketSamples(Level)) : EndIndex;

    /// <summary>Summary of channel <paramref name="channel"/> in entry <paramref name="entry"/>.</summary>
    public ref readonly ChannelSummary Summary(int entry, int channel) => ref Entries[entry * ChannelCount + channel];

    /// <summary>
    /// Stored form of <see cref="Entries"/>. Level 1 is the bulk of the pyramid (≈ 7 % of the raw
    /// bytes), so its extreme positions are one-byte offsets inside the 64-sample bucket; coarser
    /// levels are few rows and keep absolute 64-bit indices.
    /// </summary>
    public byte[] EncodeEntries()
    {
        var compact = Level == 1;
        var size = compact ? CompactSize : WideSize;
        var bytes = new byte[Entries.Length * size];
        var span = bytes.AsSpan();
        for (var i = 0; i < Entries.Length; i++)
        {
            ref readonly var s = ref Entries[i];
            var dest = span.Slice(i * size, size);
            BinaryPrimitives.WriteSingleLittleEndian(dest, s.Min);
            BinaryPrimitives.WriteSingleLittleEndian(dest[4..], s.Max);
            BinaryPrimitives.WriteSingleLittleEndian(dest[8..], s.First);
            BinaryPrimitives.WriteSingleLittleEndian(dest[12..], s.Last);
            if (compact)
            {
                var start = EntryStart(i / ChannelCount);
                dest[16] = (byte)(s.MinIndex - start);
                dest[17] = (byte)(s.MaxIndex - start);
            }
            else
            {
                BinaryPrimitives.WriteInt64LittleEndian(dest[16..], s.MinIndex);
                BinaryPrimitives.WriteInt64LittleEndian(dest[24..], s.MaxIndex);
            }
        }
        return bytes;
    }

    /// <summary>Stored form of <see cref="Moments"/> (null when the row has none).</summary>
    public byte[]? EncodeMoments() => Moments is null ? null : ChannelMoments.Encode(Moments);

    /// <summary>Reads a row back from its stored columns.</summary>
    public static PyramidRow Decode(Guid measurementId, int level, long sequence, long firstIndex, long sampleCount, int channelCount, ReadOnlySpan<byte> data, ReadOnlySpan<byte> moments = default)
    {
        var compact = level == 1;
        var size = compact ? CompactSize : WideSize;
        if (channelCount < 1 || data.Length % (size * channelCount) != 0)
        {
            throw new InvalidDataException($"Pyramid row {measurementId}/{level}/{sequence} has {data.Length} bytes, not a whole number of entries.");
        }
        var entries = new ChannelSummary[data.Length / size];
        for (var i = 0; i < entries.Length; i++)
        {
            var src = data.Slice(i * size, size);
            var min = BinaryPrimitives.ReadSingleLittleEndian(src);
            var max = BinaryPrimitives.ReadSingleLittleEndian(src[4..]);
            var first = BinaryPrimitives.ReadSingleLittleEndian(src[8..]);
            var last = BinaryPrimitives.ReadSingleLittleEndian(src[12..]);
            long minAt, maxAt;
            if (compact)
            {
                var start = firstIndex + (long)(i / channelCount) * SamplePyramid.BucketSamples(1);
                minAt = start + src[16];
                maxAt = start + src[17];
            }
            else
            {
                minAt = BinaryPrimitives.ReadInt64LittleEndian(src[16..]);
                maxAt = BinaryPrimitives.ReadInt64LittleEndian(src[24..]);
            }
            entries[i] = new ChannelSummary(min, max, first, last, minAt, maxAt);
        }
        return new PyramidRow
        {
            MeasurementId = measurementId,
            Level = level,
            Sequence = sequence,
            FirstIndex = firstIndex,
            SampleCount = sampleCount,
            ChannelCount = channelCount,
            Entries = entries,
            Moments = moments.IsEmpty ? null : ChannelMoments.Decode(moments, channelCount),
        };
    }

    private const int CompactSize = 4 * sizeof(float) + 2;
    private const int WideSize = 4 * sizeof(float) + 2 * sizeof(long);
}

/// <summary>
/// The min/max pyramid beside the raw chunks: built as chunks are written, read so that a zoomed-out
/// history view never scans raw data. Levels are nested: every level's row boundaries are also
/// boundaries at the level below, so a reader can fill any gap (say the unfinished tail of a running
/// measurement) from the next finer level.
/// </summary>
public static class SamplePyramid
{
    /// <summary>Level-1 entries that make one level-2 entry (64 → 1024 samples).</summary>
    public const int FanOut = 16;

    /// <summary>
    /// Rows of level L − 1 that make one row of level L ≥ 4. Four, not 16: a read picks the coarsest
    /// level with at least one entry per pixel, so it reads up to GroupFanOut entries per pixel —
    /// with 16 a 50-minute view of 100 kHz data read 30,000 rows (130 ms on SQLite), with 4 at most ~8,000.
    /// </summary>
    public const int GroupFanOut = 4;

    /// <summary>The level whose rows are whole chunks.</summary>
    public const int ChunkLevel = 3;

    /// <summary>The coarsest level built (one entry per 4^12 = 16.7 M chunks: far beyond any measurement's length).</summary>
    public const int MaxLevel = 15;

    /// <summary>
    /// Samples per entry of the in-chunk levels: 64 at level 1, 1024 at level 2. Raw data is read only
    /// when a range has fewer than 64 samples per pixel.
    /// </summary>
    public static int BucketSamples(int level) => level switch
    {
        1 => 64,
        2 => 64 * FanOut,
        _ => throw new ArgumentOutOfRangeException(nameof(level), level, "Only levels 1 and 2 have fixed-size buckets."),
    };

    /// <summary>Chunks summarised by one entry of <paramref name="level"/> (level ≥ 3).</summary>
    public static long ChunksPerEntry(int level) => 1L << (2 * (level - ChunkLevel));

    /// <summary>The three rows a chunk contributes to the pyramid (levels 1, 2 and 3), finest first.</summary>
    public static (PyramidRow Fine, PyramidRow Coarse, PyramidRow Chunk) BuildChunkRows(StoredChunk chunk)
    {
        var fine = BuildBuckets(chunk);
        var coarse = Fold(fine, 2, FanOut);
        var whole = Fold(coarse, ChunkLevel, int.MaxValue);
        return (fine, coarse, new PyramidRow
        {
            MeasurementId = whole.MeasurementId,
            Level = whole.Level,
            Sequence = whole.Sequence,
            FirstIndex = whole.FirstIndex,
            SampleCount = whole.SampleCount,
            ChannelCount = whole.ChannelCount,
            Entries = whole.Entries,
            Moments = MomentsOf(chunk),
        });
    }

    /// <summary>Per-channel moments of a whole chunk (what its level-3 row stores).</summary>
    public static ChannelMoments[] MomentsOf(StoredChunk chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        var moments = new ChannelMoments[chunk.ChannelCount];
        for (var c = 0; c < moments.Length; c++)
        {
            moments[c] = ChannelMoments.Of(chunk.Channel(c));
        }
        return moments;
    }

    /// <summary>Level-1 row of a chunk: one summary per 64 samples per channel.</summary>
    public static PyramidRow BuildBuckets(StoredChunk chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        var channels = chunk.ChannelCount;
        var size = BucketSamples(1);
        var buckets = (chunk.SampleCount + size - 1) / size;
        var entries = new ChannelSummary[buckets * channels];
        for (var c = 0; c < channels; c++)
        {
            var values = chunk.Channel(c);
            for (var b = 0; b < buckets; b++)
            {
                var start = b * size;
                var run = values.Slice(start, Math.Min(size, values.Length - start));
                entries[b * channels + c] = ChannelSummary.Of(run, chunk.FirstSampleIndex + start);
            }
        }
        return new PyramidRow
        {
            MeasurementId = chunk.MeasurementId,
            Level = 1,
            Sequence = chunk.Sequence,
            FirstIndex = chunk.FirstSampleIndex,
            SampleCount = chunk.SampleCount,
            ChannelCount = channels,
            Entries = entries,
        };
    }

    /// <summary>
    /// The next row up of the same chunk: every <paramref name="per"/> consecutive entries of
    /// <paramref name="row"/> merged into one (no second pass over the samples).
    /// </summary>
    private static PyramidRow Fold(PyramidRow row, int level, int per)
    {
        var channels = row.ChannelCount;
        var count = (int)Math.Min(row.EntryCount, ((long)row.EntryCount + per - 1) / per);
        var entries = new ChannelSummary[count * channels];
        for (var e = 0; e < row.EntryCount; e++)
        {
            var target = e / per;
            for (var c = 0; c < channels; c++)
            {
                ref var into = ref entries[target * channels + c];
                into = e % per == 0 ? row.Summary(e, c) : ChannelSummary.Merge(into, row.Summary(e, c));
            }
        }
        return new PyramidRow
        {
            MeasurementId = row.MeasurementId,
            Level = level,
            Sequence = row.Sequence,
            FirstIndex = row.FirstIndex,
            SampleCount = row.SampleCount,
            ChannelCount = channels,
            Entries = entries,
        };
    }

    /// <summary>
    /// Row <paramref name="group"/> of <paramref name="level"/> (≥ 4) from its <see cref="GroupFanOut"/> member rows
    /// of the level below, in sequence order. Null unless all are there and contiguous: an incomplete group is
    /// never stored, readers use the finer level for it.
    /// </summary>
    public static PyramidRow? Aggregate(int level, long group, IReadOnlyList<PyramidRow> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        ArgumentOutOfRangeException.ThrowIfLessThan(level, ChunkLevel + 1);
        if (members.Count != GroupFanOut)
        {
            return null;
        }
        var first = members[0];
        var channels = first.ChannelCount;
        var entries = new ChannelSummary[channels];
        first.Entries.AsSpan(0, channels).CopyTo(entries);
        // Sums only when every member has them (a group over rows stored before the sums gets them when rebuilt).
        var moments = members.All(m => m.Moments is { } mm && mm.Length == channels) ? (ChannelMoments[])first.Moments!.Clone() : null;
        for (var i = 0; i < GroupFanOut; i++)
        {
            var m = members[i];
            if (m.Level != level - 1 || m.Sequence != group * GroupFanOut + i || m.ChannelCount != channels || m.EntryCount != 1
                || (i > 0 && m.FirstIndex != members[i - 1].EndIndex))
            {
                return null;
            }
            for (var c = 0; i > 0 && c < channels; c++)
            {
                entries[c] = ChannelSummary.Merge(entries[c], m.Summary(0, c));
                if (moments is not null)
                {
                    moments[c] = ChannelMoments.Merge(moments[c], m.Moments![c]);
                }
            }
        }
        return new PyramidRow
        {
            MeasurementId = first.MeasurementId,
            Level = level,
            Sequence = group,
            FirstIndex = first.FirstIndex,
            SampleCount = members[^1].EndIndex - first.FirstIndex,
            ChannelCount = channels,
            Entries = entries,
            Moments = moments,
        };
    }

    /// <summary>
    /// Rows of levels ≥ 4 that the newly stored chunk rows (level 3) complete, computed level by level. Members
    /// written by earlier batches come from <paramref name="loadMembers"/> (measurement, level, first
    /// sequence, last sequence; rows in sequence order). Writing is idempotent: a group is built only when its
    /// last member is new, and stored with "skip if present".
    /// </summary>
    public static async Task<List<PyramidRow>> BuildUpperLevelsAsync(
        IReadOnlyList<PyramidRow> newChunkSummaries,
        Func<Guid, int, long, long, CancellationToken, Task<IReadOnlyList<PyramidRow>>> loadMembers,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(newChunkSummaries);
        ArgumentNullException.ThrowIfNull(loadMembers);
        var result = new List<PyramidRow>();
        foreach (var perMeasurement in newChunkSummaries.GroupBy(r => r.MeasurementId))
        {
            var fresh = perMeasurement.OrderBy(r => r.Sequence).ToList();
            for (var level = ChunkLevel + 1; level <= MaxLevel && fresh.Count > 0; level++)
            {
                var known = fresh.ToDictionary(r => r.Sequence);
                var built = new List<PyramidRow>();
                foreach (var last in fresh.Where(r => r.Sequence % GroupFanOut == GroupFanOut - 1))
                {
                    var group = last.Sequence / GroupFanOut;
                    var lo = group * GroupFanOut;
                    var inBatch = new List<PyramidRow>(GroupFanOut);
                    for (var s = lo; s <= last.Sequence && known.TryGetValue(s, out var m); s++)
                    {
                        inBatch.Add(m);
                    }
                    // Members from earlier batches (only the first group of a batch) are read back. Level-3
                    // members of this batch are already stored by the same transaction; rows of higher
                    // levels built in this batch are not yet, so they are taken from `known`.
                    var members = inBatch.Count == GroupFanOut ? inBatch
                        : WithBatchRows(await loadMembers(perMeasurement.Key, level - 1, lo, lo + GroupFanOut - 1, cancellationToken), known, lo, lo + GroupFanOut - 1);
                    if (Aggregate(level, group, members) is { } row)
                    {
                        built.Add(row);
                    }
                }
                result.AddRange(built);
                fresh = built;
            }
        }
        return result;
    }

    private static List<PyramidRow> WithBatchRows(IReadOnlyList<PyramidRow> loaded, Dictionary<long, PyramidRow> batch, long lo, long hi)
    {
        var rows = loaded.ToDictionary(r => r.Sequence);
        for (var s = lo; s <= hi; s++)
        {
            if (batch.TryGetValue(s, out var row))
            {
                rows.TryAdd(s, row);
            }
        }
        return [.. rows.Values.OrderBy(r => r.Sequence)];
    }
}
