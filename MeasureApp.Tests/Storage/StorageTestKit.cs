using System.Runtime.InteropServices;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;

namespace MeasureApp.Tests.Storage;

/// <summary>A known multi-channel signal cut into chunks, kept whole for comparisons.</summary>
internal sealed class KnownSignal
{
    public KnownSignal(Guid measurementId, int channels, IReadOnlyList<int> chunkSizes, Func<int, long, float> value, double sampleRate = 1000)
    {
        MeasurementId = measurementId;
        var total = chunkSizes.Sum();
        Samples = new float[channels][];
        for (var c = 0; c < channels; c++)
        {
            Samples[c] = new float[total];
            for (var i = 0; i < total; i++)
            {
                Samples[c][i] = value(c, i);
            }
        }
        var chunks = new List<StoredChunk>(chunkSizes.Count);
        long first = 0;
        for (var seq = 0; seq < chunkSizes.Count; seq++)
        {
            var n = chunkSizes[seq];
            var payload = new byte[n * channels * sizeof(float)];
            var values = MemoryMarshal.Cast<byte, float>(payload.AsSpan());
            var min = new float[channels];
            var max = new float[channels];
            for (var c = 0; c < channels; c++)
            {
                Samples[c].AsSpan((int)first, n).CopyTo(values.Slice(c * n, n));
                (min[c], max[c]) = M4.MinMaxScalar(values.Slice(c * n, n));
            }
            chunks.Add(new StoredChunk
            {
                MeasurementId = measurementId,
                Sequence = seq,
                FirstSampleIndex = first,
                // Each chunk starts at its first sample's own time at the signal's rate (exports map times through chunks).
                T0Ns = 1_700_000_000_000_000_000 + (long)Math.Round(first * 1e9 / sampleRate),
                SampleCount = n,
                ChannelCount = channels,
                Payload = payload,
                Min = min,
                Max = max,
            });
            first += n;
        }
        Chunks = chunks;
    }

    public Guid MeasurementId { get; }

    /// <summary>Every sample, per channel.</summary>
    public float[][] Samples { get; }

    public IReadOnlyList<StoredChunk> Chunks { get; }

    public long Length => Samples[0].Length;

    public static MeasurementInfo Info(Guid id, int channels, string ownerId = "owner-1", MeasurementState state = MeasurementState.Running,
        DateTimeOffset? startedAt = null, DateTimeOffset? stoppedAt = null, long sampleCount = 0) => new()
        {
            Id = id,
            OwnerId = ownerId,
            OwnerName = ownerId + "@test.local",
            Name = "stored",
            DeviceId = "sim-1",
            Channels = [.. Enumerable.Range(0, channels).Select(c => new ChannelInfo($"ch{c + 1}", "V"))],
            SampleRate = 1000,
            State = state,
            StopReason = state == MeasurementState.Stopped ? StopReason.User : StopReason.None,
            StartedAt = startedAt ?? DateTimeOffset.UtcNow,
            StoppedAt = stoppedAt,
            SampleCount = sampleCount,
        };
}

/// <summary>Waits for a condition with a deadline (no fixed sleeps decide anything).</summary>
internal static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null, Action? eachRound = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (waited.Elapsed > limit)
            {
                Assert.Fail($"Timed out waiting for: {what}");
            }
            eachRound?.Invoke();
            // Polling interval only; the condition decides.
            await Task.Delay(10);
        }
    }

    public static async Task TrueAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!await condition())
        {
            if (waited.Elapsed > limit)
            {
                Assert.Fail($"Timed out waiting for: {what}");
            }
            await Task.Delay(50);
        }
    }
}

/// <summary>
/// An in-memory store whose "database" can be switched off: every call then throws, as a dropped
/// connection would. Records what arrived, in order, duplicates included.
/// </summary>
internal sealed class SwitchableStore : ISampleStore
{
    private readonly Lock _gate = new();
    private readonly List<StoredChunk> _arrivals = [];
    private readonly Dictionary<(Guid, long), StoredChunk> _chunks = [];
    private readonly Dictionary<Guid, MeasurementInfo> _measurements = [];

    public volatile bool Down;

    public List<StoredChunk> Arrivals
    {
        get
        {
            lock (_gate)
            {
                return [.. _arrivals];
            }
        }
    }

    public List<StoredChunk> Stored(Guid id)
    {
        lock (_gate)
        {
            return [.. _chunks.Values.Where(c => c.MeasurementId == id).OrderBy(c => c.Sequence)];
        }
    }

    public MeasurementInfo? Measurement(Guid id)
    {
        lock (_gate)
        {
            return _measurements.GetValueOrDefault(id);
        }
    }

    public Task CreateMeasurementAsync(MeasurementInfo info, CancellationToken cancellationToken) => Do(() => _measurements[info.Id] = info);

    public Task UpdateMeasurementAsync(MeasurementInfo info, CancellationToken cancellationToken) => Do(() => _measurements[info.Id] = info);

    public Task WriteChunksAsync(IReadOnlyList<StoredChunk> chunks, CancellationToken cancellationToken) => Do(() =>
    {
        foreach (var c in chunks)
        {
            _arrivals.Add(c);
            _chunks.TryAdd((c.MeasurementId, c.Sequence), c);
        }
    });

    public Task DeleteSamplesAsync(Guid measurementId, CancellationToken cancellationToken) => Do(() =>
    {
        foreach (var key in _chunks.Keys.Where(k => k.Item1 == measurementId).ToList())
        {
            _chunks.Remove(key);
        }
    });

    public Task<IReadOnlyList<StoredChunk>> ReadChunksAsync(Guid measurementId, long fromIndex, long toIndex, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<StoredChunk>>([.. _chunks.Values
                .Where(c => c.MeasurementId == measurementId && c.FirstSampleIndex < toIndex && c.FirstSampleIndex + c.SampleCount > fromIndex)
                .OrderBy(c => c.Sequence)]);
        }
    }

    private Task Do(Action action)
    {
        if (Down)
        {
            return Task.FromException(new IOException("The database is unreachable (test double switched off)."));
        }
        lock (_gate)
        {
            action();
        }
        return Task.CompletedTask;
    }
}

/// <summary>Checks on a measurement as the database holds it after a fault.</summary>
internal static class StoredMeasurement
{
    /// <summary>
    /// Waits until the row is Stopped, then asserts its chunks run 0, 1, 2, … without gaps or
    /// overlaps and that the row counts exactly their samples; returns the row.
    /// </summary>
    public static async Task<MeasureApp.Data.MeasurementRecord> AssertStoppedWithoutGapsAsync(Microsoft.EntityFrameworkCore.IDbContextFactory<MeasureApp.Data.AppDbContext> contexts, Guid id)
    {
        await Eventually.TrueAsync(async () =>
        {
            await using var db = await contexts.CreateDbContextAsync();
            return (await Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.SingleAsync(db.Measurements, m => m.Id == id)).State == MeasurementState.Stopped;
        }, "the final metadata is stored");
        await using var check = await contexts.CreateDbContextAsync();
        var record = await Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.SingleAsync(
            Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.AsNoTracking(check.Measurements), m => m.Id == id);
        var chunks = await Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.ToListAsync(
            check.Set<MeasureApp.Data.SampleChunkRecord>().Where(c => c.MeasurementId == id).OrderBy(c => c.Sequence)
            .Select(c => new { c.Sequence, c.FirstSampleIndex, c.SampleCount }));
        Assert.Equal(Enumerable.Range(0, chunks.Count).Select(i => (long)i), chunks.Select(c => c.Sequence));
        for (var i = 1; i < chunks.Count; i++)
        {
            Assert.Equal(chunks[i - 1].FirstSampleIndex + chunks[i - 1].SampleCount, chunks[i].FirstSampleIndex);
        }
        Assert.Equal(record.SampleCount, chunks.Sum(c => (long)c.SampleCount));
        return record;
    }
}
