using MeasureApp.Acquisition.Measurements;

namespace MeasureApp.Acquisition.Storage;

/// <summary>
/// Durable store of measurements and their raw data. Two providers: PostgreSQL (binary COPY) and
/// SQLite (batched prepared inserts, WAL). Chunk writes are idempotent on (measurement, sequence).
/// </summary>
public interface ISampleStore
{
    /// <summary>Records a new measurement (state Starting/Running).</summary>
    Task CreateMeasurementAsync(MeasurementInfo info, CancellationToken cancellationToken);

    /// <summary>Updates state, reason, stop time and sample count.</summary>
    Task UpdateMeasurementAsync(MeasurementInfo info, CancellationToken cancellationToken);

    /// <summary>Writes chunks; a chunk whose (measurement, sequence) already exists is skipped, never duplicated.</summary>
    Task WriteChunksAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken);

    /// <summary>Reads the chunks of a measurement overlapping sample indices [fromIndex, toIndex).</summary>
    Task<IReadOnlyList<StoredChunk>> ReadChunksAsync(Guid measurementId, long fromIndex, long toIndex, CancellationToken cancellationToken);
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
