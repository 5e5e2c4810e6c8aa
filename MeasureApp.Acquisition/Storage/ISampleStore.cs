using System.Runtime.CompilerServices;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Measurements;

namespace MeasureApp.Acquisition.Storage;

/// <summary>
/// Durable store of measurements and their raw data. Two providers: PostgreSQL (binary COPY) and
/// SQLite (batched prepared inserts, WAL). Chunk writes are idempotent on (measurement, sequence).
/// </summary>
/// <remarks>
/// The read members added for history and export have default implementations that work from
/// <see cref="ReadChunksAsync"/> alone (a full scan of the range): correct for test doubles and
/// small stores; the database store overrides them with the min/max pyramid and streaming reads.
/// </remarks>
public interface ISampleStore
{
    /// <summary>Records a new measurement (state Starting/Running).</summary>
    Task CreateMeasurementAsync(MeasurementInfo info, CancellationToken cancellationToken);

    /// <summary>Updates state, reason, stop time and sample count.</summary>
    Task UpdateMeasurementAsync(MeasurementInfo info, CancellationToken cancellationToken);

    /// <summary>Writes chunks; a chunk whose (measurement, sequence) already exists is skipped, never duplicated.</summary>
    Task WriteChunksAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken);

    /// <summary>
    /// Called after a spool replay with the measurements whose chunks it stored: a row already
    /// stopped (e.g. marked stopped after a crash while its chunks still waited in the spool) gets
    /// the sample count its stored chunks hold. The default does nothing (stores without such rows).
    /// </summary>
    Task SettleSampleCountsAsync(IReadOnlyCollection<Guid> measurementIds, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Deletes a measurement's stored samples (chunks and summaries; the measurement's own row stays).
    /// Callers check ownership and that it no longer runs; an interrupted delete can simply run again.
    /// </summary>
    Task DeleteSamplesAsync(Guid measurementId, CancellationToken cancellationToken);

    /// <summary>
    /// The time line of a measurement's stored samples (where each regular run starts, and which runs
    /// follow a gap), so history, zoom and replay place every sample at its own stored time. The
    /// database store reads only the chunks that start a run; this default scans every chunk.
    /// </summary>
    /// <param name="measurementId">Measurement id (ownership is the caller's job).</param>
    /// <param name="sampleRate">The measurement's sample rate.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    async Task<SampleRuns> ReadRunsAsync(Guid measurementId, double sampleRate, CancellationToken cancellationToken)
    {
        var chunks = await ReadChunksAsync(measurementId, 0, long.MaxValue, cancellationToken);
        return SampleRuns.FromChunks(chunks.Select(c => (c.FirstSampleIndex, c.T0Ns, c.SampleCount)), sampleRate);
    }

    /// <summary>Reads the chunks of a measurement overlapping sample indices [fromIndex, toIndex).</summary>
    Task<IReadOnlyList<StoredChunk>> ReadChunksAsync(Guid measurementId, long fromIndex, long toIndex, CancellationToken cancellationToken);

    /// <summary>
    /// M4 view of sample indices [<paramref name="fromIndex"/>, <paramref name="toIndex"/>) at
    /// <paramref name="pixels"/> columns: per column and channel the first, min, max and last
    /// sample (with their sample indices), so a single-sample spike is always kept. Answers from the
    /// coarsest pre-aggregated level that still gives at least <paramref name="pixels"/> columns and
    /// reads raw samples only when zoomed in that far (see <see cref="DecimatedRange.Level"/>).
    /// </summary>
    /// <param name="measurementId">Measurement id (ownership is the caller's job).</param>
    /// <param name="fromIndex">First sample index wanted.</param>
    /// <param name="toIndex">Sample index after the last wanted; clipped to the stored data.</param>
    /// <param name="pixels">Column count wanted (the chart's pixel width), at least 1.</param>
    /// <param name="channels">Channel numbers to return; null or empty for all.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    async Task<DecimatedRange> ReadDecimatedAsync(Guid measurementId, long fromIndex, long toIndex, int pixels, IReadOnlyList<int>? channels, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pixels, 1);
        var chunks = await ReadChunksAsync(measurementId, fromIndex, toIndex, cancellationToken);
        if (chunks.Count == 0)
        {
            return DecimatedRange.Empty(measurementId, fromIndex);
        }
        var from = Math.Max(fromIndex, chunks[0].FirstSampleIndex);
        var to = Math.Min(toIndex, chunks[^1].FirstSampleIndex + chunks[^1].SampleCount);
        var selected = RangeDecimator.SelectChannels(channels, chunks[0].ChannelCount);
        var grid = RangeDecimator.ForRaw(from, to, pixels, selected);
        foreach (var chunk in chunks)
        {
            grid.AddRaw(chunk);
        }
        return grid.ToRange(measurementId, level: 0, summaryRowsRead: 0);
    }

    /// <summary>
    /// Exact min, max, mean, RMS and standard deviation per channel of the stored samples in
    /// [<paramref name="fromIndex"/>, <paramref name="toIndex"/>) (a range over a gap covers the samples
    /// on both sides). The database store answers from the pyramid's per-row sums plus at most two
    /// partial raw chunks; this default scans the range.
    /// </summary>
    /// <param name="measurementId">Measurement id (ownership is the caller's job).</param>
    /// <param name="fromIndex">First sample index wanted.</param>
    /// <param name="toIndex">Sample index after the last wanted; clipped to the stored data.</param>
    /// <param name="channels">Channel numbers, in this order; null or empty for all.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    async Task<RangeStatistics> ReadStatisticsAsync(Guid measurementId, long fromIndex, long toIndex, IReadOnlyList<int>? channels, CancellationToken cancellationToken)
    {
        var chunks = await ReadChunksAsync(measurementId, fromIndex, toIndex, cancellationToken);
        var selected = RangeDecimator.SelectChannels(channels, chunks.Count > 0 ? chunks[0].ChannelCount : channels?.DefaultIfEmpty().Max() + 1 ?? 0);
        var sum = new StatisticsAccumulator(selected);
        foreach (var chunk in chunks)
        {
            sum.AddRaw(chunk, fromIndex, toIndex);
        }
        var end = chunks.Count > 0 ? Math.Min(toIndex, chunks[^1].FirstSampleIndex + chunks[^1].SampleCount) : fromIndex;
        return sum.ToStatistics(fromIndex, Math.Max(fromIndex, end));
    }

    /// <summary>
    /// Streams the stored samples of [<paramref name="fromIndex"/>, <paramref name="toIndex"/>) in
    /// order, one segment per stored chunk (trimmed to the range, only the chosen channels), so an
    /// export of any size holds one chunk in memory at a time.
    /// </summary>
    /// <param name="measurementId">Measurement id (ownership is the caller's job).</param>
    /// <param name="fromIndex">First sample index wanted.</param>
    /// <param name="toIndex">Sample index after the last wanted.</param>
    /// <param name="channels">Channel numbers to return, in this order; null or empty for all.</param>
    /// <param name="cancellationToken">Cancels the enumeration.</param>
    async IAsyncEnumerable<SampleSegment> ReadRawAsync(Guid measurementId, long fromIndex, long toIndex, IReadOnlyList<int>? channels, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var chunk in await ReadChunksAsync(measurementId, fromIndex, toIndex, cancellationToken))
        {
            if (SampleSegment.Trim(chunk, fromIndex, toIndex, channels) is { } segment)
            {
                yield return segment;
            }
        }
    }
}

/// <summary>
/// A stored run of samples: channel-major float32 little-endian payload plus per-channel min/max
/// kept beside it for zoomed-out reads.
/// </summary>
public sealed record StoredChunk
{
    /// <summary>Measurement id.</summary>
    public required Guid MeasurementId { get; init; }
    /// <summary>Chunk sequence number within the measurement, from 0, without gaps.</summary>
    public required long Sequence { get; init; }
    /// <summary>Index of the first sample.</summary>
    public required long FirstSampleIndex { get; init; }
    /// <summary>Time of the first sample, ns since the epoch (UTC).</summary>
    public required long T0Ns { get; init; }
    /// <summary>Samples per channel.</summary>
    public required int SampleCount { get; init; }
    /// <summary>Channel count.</summary>
    public required int ChannelCount { get; init; }
    /// <summary>Channel-major float32 values, little-endian.</summary>
    public required byte[] Payload { get; init; }
    /// <summary>Per-channel minimum.</summary>
    public required float[] Min { get; init; }
    /// <summary>Per-channel maximum.</summary>
    public required float[] Max { get; init; }

    /// <summary>The values of one channel.</summary>
    public ReadOnlySpan<float> Channel(int channel) =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Payload).Slice(channel * SampleCount, SampleCount);
}

/// <summary>
/// Raw samples of part of one stored chunk, for exports: <see cref="Count"/> samples from
/// <see cref="FirstIndex"/> of the channels in <see cref="Channels"/>, channel-major.
/// </summary>
public sealed class SampleSegment
{
    /// <summary>Measurement id.</summary>
    public required Guid MeasurementId { get; init; }

    /// <summary>Sample index of the first value.</summary>
    public required long FirstIndex { get; init; }

    /// <summary>Samples per channel.</summary>
    public required int Count { get; init; }

    /// <summary>Sample index of the first sample of the chunk this segment was cut from.</summary>
    public required long ChunkFirstIndex { get; init; }

    /// <summary>Time of <see cref="ChunkFirstIndex"/>, ns since the epoch (UTC), as the device stamped it.</summary>
    public required long ChunkT0Ns { get; init; }

    /// <summary>Channel numbers, in the order of the values.</summary>
    public required IReadOnlyList<int> Channels { get; init; }

    /// <summary>Values: the k-th entry of <see cref="Channels"/> occupies [k·Count, (k+1)·Count).</summary>
    public required float[] Values { get; init; }

    /// <summary>The values of the k-th returned channel (k indexes <see cref="Channels"/>, not the channel number).</summary>
    public ReadOnlySpan<float> Channel(int k) => Values.AsSpan(k * Count, Count);

    /// <summary>
    /// Time of sample <paramref name="i"/> of this segment in ns since the epoch: from the chunk's time
    /// stamp by <see cref="SampleTime"/>, as <c>SampleBlock.TimeOfSampleNs</c> does, so they match the live view.
    /// </summary>
    public long TimeOfSampleNs(int i, double sampleRate) => SampleTime.TimeOfNs(ChunkT0Ns, ChunkFirstIndex, FirstIndex + i, sampleRate);

    /// <summary>Cuts the part of <paramref name="chunk"/> inside [from, to) for the chosen channels; null when nothing is inside.</summary>
    public static SampleSegment? Trim(StoredChunk chunk, long from, long to, IReadOnlyList<int>? channels)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        var start = Math.Max(from, chunk.FirstSampleIndex);
        var end = Math.Min(to, chunk.FirstSampleIndex + chunk.SampleCount);
        if (start >= end)
        {
            return null;
        }
        var selected = RangeDecimator.SelectChannels(channels, chunk.ChannelCount);
        var count = (int)(end - start);
        var offset = (int)(start - chunk.FirstSampleIndex);
        var values = new float[selected.Length * count];
        for (var k = 0; k < selected.Length; k++)
        {
            chunk.Channel(selected[k]).Slice(offset, count).CopyTo(values.AsSpan(k * count, count));
        }
        return new SampleSegment
        {
            MeasurementId = chunk.MeasurementId,
            FirstIndex = start,
            Count = count,
            ChunkFirstIndex = chunk.FirstSampleIndex,
            ChunkT0Ns = chunk.T0Ns,
            Channels = selected,
            Values = values,
        };
    }
}
