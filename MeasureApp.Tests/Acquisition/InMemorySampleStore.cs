using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;

namespace MeasureApp.Tests.Acquisition;

/// <summary>
/// <see cref="ISampleStore"/> in memory with the real store's contract: chunk writes are idempotent
/// on (measurement, sequence). Lets engine tests look at exactly what was persisted.
/// </summary>
public sealed class InMemorySampleStore : ISampleStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, MeasurementInfo> _measurements = [];
    private readonly Dictionary<(Guid, long), StoredChunk> _chunks = [];
    private int _duplicateChunks;

    /// <summary>Runs before a measurement is recorded; a test makes the "database" fail or hang with it.</summary>
    public Func<MeasurementInfo, CancellationToken, Task>? BeforeCreate { get; set; }

    /// <summary>Chunk writes that hit an existing (measurement, sequence) and were skipped.</summary>
    public int DuplicateChunks
    {
        get
        {
            lock (_gate)
            {
                return _duplicateChunks;
            }
        }
    }

    /// <summary>Every measurement as last recorded.</summary>
    public List<MeasurementInfo> Measurements
    {
        get
        {
            lock (_gate)
            {
                return [.. _measurements.Values];
            }
        }
    }

    /// <summary>The measurement as last recorded, or null.</summary>
    public MeasurementInfo? Measurement(Guid id)
    {
        lock (_gate)
        {
            return _measurements.GetValueOrDefault(id);
        }
    }

    /// <inheritdoc />
    public Task DeleteSamplesAsync(Guid measurementId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            foreach (var key in _chunks.Keys.Where(k => k.Item1 == measurementId).ToList())
            {
                _chunks.Remove(key);
            }
        }
        return Task.CompletedTask;
    }

    /// <summary>The stored chunks of a measurement in sequence order.</summary>
    public List<StoredChunk> Chunks(Guid id)
    {
        lock (_gate)
        {
            return [.. _chunks.Values.Where(c => c.MeasurementId == id).OrderBy(c => c.Sequence)];
        }
    }

    /// <inheritdoc />
    public async Task CreateMeasurementAsync(MeasurementInfo info, CancellationToken cancellationToken)
    {
        if (BeforeCreate is { } before)
        {
            await before(info, cancellationToken);
        }
        lock (_gate)
        {
            if (!_measurements.TryAdd(info.Id, info))
            {
                throw new InvalidOperationException($"Measurement {info.Id} was recorded twice.");
            }
        }
    }

    /// <inheritdoc />
    public Task UpdateMeasurementAsync(MeasurementInfo info, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_measurements.ContainsKey(info.Id))
            {
                throw new InvalidOperationException($"Measurement {info.Id} was updated before it was recorded.");
            }
            _measurements[info.Id] = info;
        }
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task WriteChunksAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            foreach (var chunk in chunks)
            {
                if (!_chunks.TryAdd((chunk.MeasurementId, chunk.Sequence), chunk))
                {
                    _duplicateChunks++;
                }
            }
        }
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<StoredChunk>> ReadChunksAsync(Guid measurementId, long fromIndex, long toIndex, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            IReadOnlyList<StoredChunk> result = [.. _chunks.Values
                .Where(c => c.MeasurementId == measurementId && c.FirstSampleIndex < toIndex && c.FirstSampleIndex + c.SampleCount > fromIndex)
                .OrderBy(c => c.Sequence)];
            return Task.FromResult(result);
        }
    }
}
