using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.Storage;
using MeasureApp.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Storage;

/// <summary>The app on a fresh database, shared by the tests of one class (each test uses its own measurement ids).</summary>
public abstract class StoreFixture(DatabaseProvider provider) : IDisposable
{
    public AppFactory Factory { get; } = new(provider);

    public DbSampleStore Store => (DbSampleStore)Factory.Services.GetRequiredService<ISampleStore>();

    public IDbContextFactory<AppDbContext> Contexts => Factory.Services.GetRequiredService<IDbContextFactory<AppDbContext>>();

    public void Dispose()
    {
        Factory.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteStoreFixture() : StoreFixture(DatabaseProvider.Sqlite);

public sealed class PostgresStoreFixture() : StoreFixture(DatabaseProvider.Postgres);

/// <summary>DbSampleStore against each provider: idempotent writes, exact reads, the pyramid, retention.</summary>
public abstract class SampleStoreTests(StoreFixture fixture)
{
    private const long SpikeIndex = 345_679;
    private const long DipIndex = 123_457;

    [Fact]
    public async Task WritingTheSameBatchTwiceStoresEachChunkOnce()
    {
        var signal = new KnownSignal(Guid.NewGuid(), 2, [.. Enumerable.Repeat(600, 40)], (c, i) => c + i * 0.001f);
        var chunks = signal.Chunks;

        await fixture.Store.WriteChunksAsync([.. chunks.Take(30)], CancellationToken.None);
        await fixture.Store.WriteChunksAsync([.. chunks.Take(30)], CancellationToken.None);
        await fixture.Store.WriteChunksAsync([.. chunks.Skip(20)], CancellationToken.None);

        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var stored = await db.Set<SampleChunkRecord>().Where(c => c.MeasurementId == signal.MeasurementId).Select(c => c.Sequence).ToListAsync();
        Assert.Equal(Enumerable.Range(0, 40).Select(i => (long)i), stored.Order());
        var levels = await db.Set<SampleLevelRecord>().Where(l => l.MeasurementId == signal.MeasurementId)
            .Select(l => new { l.Level, l.Sequence }).ToListAsync();
        Assert.Equal(levels.Count, levels.Distinct().Count());
        Assert.Equal(40, levels.Count(l => l.Level == 1));
        Assert.Equal(40, levels.Count(l => l.Level == 2));
        Assert.Equal(40, levels.Count(l => l.Level == 3));
        // Level 4 = groups of 4 chunks: all ten are complete. Level 5 = groups of 4 level-4 rows: 0 (chunks 0–15)
        // and 1 (16–31, whose last member was built by the third batch); 32–39 is incomplete and gets none.
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), levels.Where(l => l.Level == 4).Select(l => l.Sequence).Order());
        Assert.Equal([0L, 1L], levels.Where(l => l.Level == 5).Select(l => l.Sequence).Order());
        Assert.Equal(132, levels.Count);
    }

    [Fact]
    public async Task RawReadReturnsExactlyWhatWasWritten()
    {
        var signal = await StoreSignalAsync(3, chunkCount: 60);
        const long from = 1_234, to = 40_321;

        var segments = new List<SampleSegment>();
        await foreach (var s in fixture.Store.ReadRawAsync(signal.MeasurementId, from, to, [2, 0], CancellationToken.None))
        {
            segments.Add(s);
        }

        Assert.All(segments, s => Assert.Equal([2, 0], s.Channels));
        Assert.Equal(from, segments[0].FirstIndex);
        for (var i = 1; i < segments.Count; i++)
        {
            Assert.Equal(segments[i - 1].FirstIndex + segments[i - 1].Count, segments[i].FirstIndex);
        }
        Assert.Equal(signal.Samples[2][(int)from..(int)to], segments.SelectMany(s => s.Channel(0).ToArray()));
        Assert.Equal(signal.Samples[0][(int)from..(int)to], segments.SelectMany(s => s.Channel(1).ToArray()));
        var chunkOf = signal.Chunks.Single(c => c.FirstSampleIndex <= from && from < c.FirstSampleIndex + c.SampleCount);
        Assert.Equal(chunkOf.T0Ns + (from - chunkOf.FirstSampleIndex) * 1_000_000, segments[0].TimeOfSampleNs(0, 1000));

        var everything = new List<float>();
        await foreach (var s in fixture.Store.ReadRawAsync(signal.MeasurementId, 0, long.MaxValue, null, CancellationToken.None))
        {
            Assert.Equal(3, s.Channels.Count);
            everything.AddRange(s.Channel(1).ToArray());
        }
        Assert.Equal(signal.Samples[1], everything);
    }

    [Theory]
    [InlineData(0, long.MaxValue, 30, 5)]
    [InlineData(0, long.MaxValue, 100, 4)]
    [InlineData(0, long.MaxValue, 400, 3)]
    [InlineData(0, long.MaxValue, 550, 2)]
    [InlineData(SpikeIndex - 50_000, SpikeIndex + 50_000, 1000, 1)]
    [InlineData(DipIndex - 40_000, SpikeIndex + 10_000, 3000, 1)]
    [InlineData(SpikeIndex - 10_000, SpikeIndex + 10_000, 1000, 0)]
    [InlineData(SpikeIndex - 300, SpikeIndex + 300, 1000, 0)]
    public async Task DecimatedReadGivesTheTrueMinAndMaxOfEveryColumnIncludingASingleSampleSpike(long from, long to, int pixels, int expectedLevel)
    {
        var signal = await SharedSignalAsync();

        var range = await fixture.Store.ReadDecimatedAsync(signal.MeasurementId, from, to, pixels, null, CancellationToken.None);

        Assert.Equal(expectedLevel, range.Level);
        AssertExactM4(signal, range, from, Math.Min(to, signal.Length), pixels);
        foreach (var (index, channel, value) in new[] { (SpikeIndex, 1, 100f), (DipIndex, 2, -50f) })
        {
            if (from <= index && index < to)
            {
                var points = range.Channels.Single(c => c.Channel == channel);
                var at = points.Indices.ToList().IndexOf(index);
                Assert.True(at >= 0, $"The single-sample extreme at {index} is missing at level {range.Level}.");
                Assert.Equal(value, points.Values[at]);
            }
        }
    }

    [Fact]
    public async Task ZoomedOutReadsAnswerFromThePyramidWithoutTouchingRawData()
    {
        var signal = await SharedSignalAsync();

        var overview = await fixture.Store.ReadDecimatedAsync(signal.MeasurementId, 0, signal.Length, 30, [1], CancellationToken.None);
        var wide = await fixture.Store.ReadDecimatedAsync(signal.MeasurementId, 0, signal.Length, 400, [1], CancellationToken.None);
        var zoomed = await fixture.Store.ReadDecimatedAsync(signal.MeasurementId, SpikeIndex - 200, SpikeIndex + 200, 400, [1], CancellationToken.None);

        Assert.Equal(5, overview.Level);
        Assert.Equal(0, overview.RawSamplesRead);
        Assert.InRange(overview.SummaryRowsRead, 1, signal.Chunks.Count / 8);
        Assert.Equal(SamplePyramid.ChunkLevel, wide.Level);
        Assert.Equal(0, wide.RawSamplesRead);
        Assert.Equal(0, zoomed.Level);
        Assert.Equal(400, zoomed.RawSamplesRead);
        Assert.Equal([1], overview.Channels.Select(c => c.Channel));
    }

    [Fact]
    public async Task DecimatedReadOfAnUnknownMeasurementOrAnEmptyRangeIsEmpty()
    {
        var signal = await SharedSignalAsync();

        var unknown = await fixture.Store.ReadDecimatedAsync(Guid.NewGuid(), 0, 1000, 100, null, CancellationToken.None);
        var beyond = await fixture.Store.ReadDecimatedAsync(signal.MeasurementId, signal.Length + 10, signal.Length + 1000, 100, null, CancellationToken.None);

        Assert.Empty(unknown.ColumnStarts);
        Assert.Empty(beyond.ColumnStarts);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => fixture.Store.ReadDecimatedAsync(signal.MeasurementId, 0, 1000, 100, [7], CancellationToken.None));
    }

    [Fact]
    public async Task RetentionPurgeDeletesOldRawDataAndMarksItExpiredButKeepsTheMetadata()
    {
        var now = new DateTimeOffset(2030, 1, 10, 12, 0, 0, TimeSpan.Zero);
        var time = new FakeTimeProvider(now);
        var shortLived = "short-" + Guid.NewGuid().ToString("N");
        await using (var db = await fixture.Contexts.CreateDbContextAsync())
        {
            db.UserLimits.Add(new UserLimitsRecord { UserId = shortLived, Retention = TimeSpan.FromHours(1) });
            await db.SaveChangesAsync();
        }
        var old = await StoreMeasurementAsync("owner-a", MeasurementState.Stopped, now.AddHours(-50), now.AddHours(-49));
        var recent = await StoreMeasurementAsync("owner-a", MeasurementState.Stopped, now.AddHours(-3), now.AddHours(-1));
        var overridden = await StoreMeasurementAsync(shortLived, MeasurementState.Stopped, now.AddHours(-3), now.AddHours(-2));
        var running = await StoreMeasurementAsync("owner-a", MeasurementState.Running, now.AddHours(-60), null);
        var purge = new RetentionPurgeService(fixture.Contexts, new StaticOptionsMonitor<LimitsOptions>(new LimitsOptions { Retention = TimeSpan.FromHours(48) }),
            time, NullLogger<RetentionPurgeService>.Instance);

        await purge.PurgeOnceAsync(CancellationToken.None);

        await using var check = await fixture.Contexts.CreateDbContextAsync();
        foreach (var (id, expired) in new[] { (old, true), (recent, false), (overridden, true), (running, false) })
        {
            var record = await check.Measurements.AsNoTracking().SingleAsync(m => m.Id == id);
            Assert.Equal(expired, record.DataExpired);
            Assert.Equal("stored", record.Name);
            Assert.Equal(2, record.ChannelCount);
            var chunks = await check.Set<SampleChunkRecord>().CountAsync(c => c.MeasurementId == id);
            var levels = await check.Set<SampleLevelRecord>().CountAsync(l => l.MeasurementId == id);
            Assert.Equal(expired ? 0 : 20, chunks);
            // 20 chunks: 3 rows each at levels 1–3, 5 level-4 groups, 1 level-5 group.
            Assert.Equal(expired ? 0 : 66, levels);
        }

        time.Advance(TimeSpan.FromHours(48));
        await purge.PurgeOnceAsync(CancellationToken.None);
        Assert.True((await check.Measurements.AsNoTracking().SingleAsync(m => m.Id == recent)).DataExpired);
        Assert.False((await check.Measurements.AsNoTracking().SingleAsync(m => m.Id == running)).DataExpired);
    }

    private async Task<Guid> StoreMeasurementAsync(string owner, MeasurementState state, DateTimeOffset started, DateTimeOffset? stopped)
    {
        var signal = new KnownSignal(Guid.NewGuid(), 2, [.. Enumerable.Repeat(512, 20)], (c, i) => c - i);
        await fixture.Store.CreateMeasurementAsync(KnownSignal.Info(signal.MeasurementId, 2, owner, state, started, stopped, signal.Length), CancellationToken.None);
        await fixture.Store.WriteChunksAsync(signal.Chunks, CancellationToken.None);
        return signal.MeasurementId;
    }

    private async Task<KnownSignal> StoreSignalAsync(int channels, int chunkCount)
    {
        // Chunk sizes vary like the writer's do (block boundaries), between 700 and 1599 samples.
        var sizes = Enumerable.Range(0, chunkCount).Select(s => 700 + s * 37 % 900).ToArray();
        var signal = new KnownSignal(Guid.NewGuid(), channels, sizes, Value);
        // Batches of 100 chunks: level-5 and level-6 groups (16 and 64 chunks) straddle batch boundaries.
        foreach (var batch in signal.Chunks.Chunk(100))
        {
            await fixture.Store.WriteChunksAsync(batch, CancellationToken.None);
        }
        return signal;
    }

    private Task<KnownSignal> SharedSignalAsync()
    {
        lock (SignalGate)
        {
            return Signals.TryGetValue(fixture, out var existing) ? existing : Signals[fixture] = StoreSignalAsync(3, chunkCount: 523);
        }
    }

    private static readonly Lock SignalGate = new();
    private static readonly Dictionary<StoreFixture, Task<KnownSignal>> Signals = [];

    private static float Value(int channel, long i) => channel switch
    {
        0 => MathF.Sin(i * 2 * MathF.PI / 5000),
        1 => i == SpikeIndex ? 100f : i % 3000 / 3000f,
        _ => i == DipIndex ? -50f : (float)((uint)(i * 2654435761L) % 2000 / 1000.0 - 1),
    };

    private static void AssertExactM4(KnownSignal signal, DecimatedRange range, long from, long to, int pixels)
    {
        var starts = range.ColumnStarts;
        Assert.NotEmpty(starts);
        Assert.InRange(starts.Count, Math.Min(pixels, to - from) * 3 / 4, pixels);
        Assert.Equal(range.FromIndex, starts[0]);
        Assert.True(range.FromIndex <= from && range.ToIndex >= to && range.ToIndex <= signal.Length,
            $"covered [{range.FromIndex}, {range.ToIndex}) for asked [{from}, {to})");
        for (var c = 1; c < starts.Count; c++)
        {
            Assert.True(starts[c] > starts[c - 1]);
        }
        foreach (var channel in range.Channels)
        {
            var source = signal.Samples[channel.Channel];
            var p = 0;
            for (var c = 0; c < starts.Count; c++)
            {
                var a = starts[c];
                var b = c + 1 < starts.Count ? starts[c + 1] : range.ToIndex;
                var first = p;
                while (p < channel.Indices.Count && channel.Indices[p] < b)
                {
                    Assert.True(channel.Indices[p] >= a && (p == first || channel.Indices[p] > channel.Indices[p - 1]));
                    Assert.Equal(source[channel.Indices[p]], channel.Values[p]);
                    p++;
                }
                var column = source.AsSpan((int)a, (int)(b - a));
                var values = channel.Values.Skip(first).Take(p - first).ToArray();
                Assert.InRange(values.Length, 1, 4);
                Assert.Equal(a, channel.Indices[first]);
                Assert.Equal(b - 1, channel.Indices[p - 1]);
                Assert.Equal(MinOf(column), values.Min());
                Assert.Equal(MaxOf(column), values.Max());
            }
            Assert.Equal(channel.Indices.Count, p);
        }
    }

    private static float MinOf(ReadOnlySpan<float> values)
    {
        var min = float.PositiveInfinity;
        foreach (var v in values)
        {
            min = Math.Min(min, v);
        }
        return min;
    }

    private static float MaxOf(ReadOnlySpan<float> values)
    {
        var max = float.NegativeInfinity;
        foreach (var v in values)
        {
            max = Math.Max(max, v);
        }
        return max;
    }

    private sealed class StaticOptionsMonitor<T>(T value) : IOptionsMonitor<T>
    {
        public T CurrentValue => value;

        public T Get(string? name) => value;

        public IDisposable? OnChange(Action<T, string?> listener) => null;
    }
}

public sealed class SqliteSampleStoreTests(SqliteStoreFixture fixture) : SampleStoreTests(fixture), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresSampleStoreTests(PostgresStoreFixture fixture) : SampleStoreTests(fixture), IClassFixture<PostgresStoreFixture>;
