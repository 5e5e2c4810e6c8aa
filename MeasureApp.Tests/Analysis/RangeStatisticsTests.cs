using System.Runtime.InteropServices;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Tests.Analysis;

/// <summary>
/// Statistics of stored ranges from the pyramid's sums (plus at most two partial chunks) against a brute-force
/// pass over the raw samples, on each provider: random ranges, ranges inside one chunk, across index gaps and
/// many small chunks, and on rows stored before the sums existed (raw fallback, then the background rebuild).
/// </summary>
public abstract class RangeStatisticsTests(StoreFixture fixture)
{
    private const double Tolerance = 1e-9;

    [Fact]
    public async Task StatisticsOfRandomRangesEqualABruteForcePassOverTheRawSamples()
    {
        // 300 chunks of uneven sizes (many small ones, as 250-ms cuts and gaps make them) → level-4 to level-7 rows.
        var random = new Random(15);
        var sizes = Enumerable.Range(0, 300).Select(_ => random.Next(40, 900)).ToArray();
        var signal = new KnownSignal(Guid.NewGuid(), 3, sizes, (c, i) => Value(c, i));
        await WriteAsync(signal.Chunks);

        for (var round = 0; round < 60; round++)
        {
            var from = random.NextInt64(0, signal.Length - 1);
            var to = round % 5 == 0 ? from + random.Next(1, 50) : random.NextInt64(from + 1, signal.Length + 1);
            var stats = await fixture.Store.ReadStatisticsAsync(signal.MeasurementId, from, to, null, CancellationToken.None);

            AssertMatchesBruteForce(stats, c => signal.Samples[c].AsSpan((int)from, (int)(Math.Min(to, signal.Length) - from)), $"[{from}, {to})");
            // Exact from sums: raw data only for the two chunks holding the ends.
            Assert.True(stats.RawSamplesRead <= 2 * sizes.Max(), $"[{from}, {to}) read {stats.RawSamplesRead} raw samples.");
        }

        var whole = await fixture.Store.ReadStatisticsAsync(signal.MeasurementId, 0, long.MaxValue, [2, 0], CancellationToken.None);
        Assert.Equal([2, 0], whole.Channels.Select(c => c.Channel));
        Assert.Equal(0, whole.RawSamplesRead);
        Assert.True(whole.SummaryRowsRead < 40, $"The whole range used {whole.SummaryRowsRead} summary rows.");
        AssertMatchesBruteForce(whole, k => signal.Samples[k == 0 ? 2 : 0], "whole");
    }

    [Fact]
    public async Task StatisticsOfAnyRangeTakeAtMostTwoDatabaseRoundTripsOnceTheSumsAreBuilt()
    {
        // 1,100 equal chunks (as 250-ms cuts make them) → rows up to level 8; ranges from a few samples to all.
        var signal = new KnownSignal(Guid.NewGuid(), 2, [.. Enumerable.Repeat(100, 1100)], (c, i) => Value(c, i));
        await WriteAsync(signal.Chunks);
        var random = new Random(12);

        for (var round = 0; round < 40; round++)
        {
            var from = round == 0 ? 0 : random.NextInt64(0, signal.Length - 1);
            var to = round == 0 ? long.MaxValue : round % 4 == 0 ? from + random.Next(1, 300) : random.NextInt64(from + 1, signal.Length + 1);
            var stats = await fixture.Store.ReadStatisticsAsync(signal.MeasurementId, from, to, null, CancellationToken.None);

            AssertMatchesBruteForce(stats, c => signal.Samples[c].AsSpan((int)from, (int)(Math.Min(to, signal.Length) - from)), $"[{from}, {to})");
            Assert.True(stats.RoundTrips is 1 or 2, $"[{from}, {to}) took {stats.RoundTrips} round trips.");
            Assert.True(stats.RawSamplesRead <= 200, $"[{from}, {to}) read {stats.RawSamplesRead} raw samples.");
        }
    }

    [Fact]
    public async Task RangesOverGapsCoverTheSamplesOnBothSidesAndNothingInBetween()
    {
        // Every discontinuity starts a new chunk with its own t0; here sample indices also jump (no rows there).
        var id = Guid.NewGuid();
        var chunks = new List<StoredChunk>();
        var present = new List<(long Index, float[] Values)>();
        long index = 0, t0 = 1_700_000_000_000_000_000;
        var random = new Random(9);
        for (var seq = 0; seq < 40; seq++)
        {
            var n = random.Next(20, 300);
            var chunk = Chunk(id, seq, index, t0, n, 2, (c, i) => Value(c, i));
            chunks.Add(chunk);
            for (var i = 0; i < n; i++)
            {
                present.Add((index + i, [chunk.Channel(0)[i], chunk.Channel(1)[i]]));
            }
            var gap = seq % 3 == 2 ? random.Next(1, 500) : 0;
            index += n + gap;
            t0 += (n + gap) * 1_000_000L + (gap > 0 ? 5_000_000_000L : 0);
        }
        await WriteAsync(chunks);

        for (var round = 0; round < 40; round++)
        {
            var from = random.NextInt64(0, index);
            var to = random.NextInt64(from + 1, index + 10);
            var inside = present.Where(p => p.Index >= from && p.Index < to).ToList();
            var stats = await fixture.Store.ReadStatisticsAsync(id, from, to, null, CancellationToken.None);
            if (inside.Count == 0)
            {
                Assert.All(stats.Channels, c => Assert.Equal(0, c.Count));
                continue;
            }
            AssertMatchesBruteForce(stats, c => inside.Select(p => p.Values[c]).ToArray(), $"[{from}, {to})");
        }
    }

    [Fact]
    public async Task RowsStoredBeforeTheSumsStayExactAndTheRebuildGivesThemSums()
    {
        var sizes = Enumerable.Repeat(500, 64).ToArray();
        var signal = new KnownSignal(Guid.NewGuid(), 2, sizes, (c, i) => Value(c, i));
        await WriteAsync(signal.Chunks);
        await using (var db = await fixture.Contexts.CreateDbContextAsync())
        {
            // What a database migrated from before the sums looks like.
            await db.Set<SampleLevelRecord>().Where(l => l.MeasurementId == signal.MeasurementId)
                .ExecuteUpdateAsync(s => s.SetProperty(l => l.Sums, (byte[]?)null));
        }
        const long from = 1_234, to = 30_111;
        Span<float> Slice(int c) => signal.Samples[c].AsSpan((int)from, (int)(to - from));

        var before = await fixture.Store.ReadStatisticsAsync(signal.MeasurementId, from, to, null, CancellationToken.None);
        AssertMatchesBruteForce(before, c => Slice(c).ToArray(), "before the rebuild");
        Assert.Equal(to - from, before.RawSamplesRead);
        Assert.True(await fixture.Store.CountRowsWithoutSumsAsync(CancellationToken.None) >= 64 + 16 + 4 + 1);

        var rounds = 0;
        while (await fixture.Store.RebuildSumsAsync(16, CancellationToken.None) > 0)
        {
            Assert.True(++rounds < 100, "The rebuild does not finish.");
        }

        Assert.Equal(0, await fixture.Store.CountRowsWithoutSumsAsync(CancellationToken.None));
        var after = await fixture.Store.ReadStatisticsAsync(signal.MeasurementId, from, to, null, CancellationToken.None);
        AssertMatchesBruteForce(after, c => Slice(c).ToArray(), "after the rebuild");
        Assert.True(after.RawSamplesRead <= 1_000, $"After the rebuild {after.RawSamplesRead} raw samples were read.");
    }

    // A DC offset keeps "relative error" meaningful for the mean; noise and a slow sine make every chunk different.
    private static float Value(int channel, long i) =>
        (float)(3.5 + channel + Math.Sin(i * 0.0137 + channel) * (1 + channel) + ((i * 7919 + channel * 104729) % 1000 - 500) * 1e-4);

    private static void AssertMatchesBruteForce(RangeStatistics stats, Func<int, ReadOnlySpan<float>> samples, string what)
    {
        for (var k = 0; k < stats.Channels.Count; k++)
        {
            var actual = stats.Channels[k];
            var values = samples(k);
            double sum = 0, squares = 0;
            foreach (var v in values)
            {
                sum += v;
                squares += (double)v * v;
            }
            var mean = sum / values.Length;
            double deviations = 0;
            foreach (var v in values)
            {
                deviations += (v - mean) * (v - mean);
            }
            var (min, max) = M4.MinMaxScalar(values);
            Assert.Equal(values.Length, actual.Count);
            Assert.Equal(min, actual.Min);
            Assert.Equal(max, actual.Max);
            Assert.Equal((double)max - min, actual.PeakToPeak);
            AssertRelative(mean, actual.Mean, $"{what} ch{actual.Channel} mean");
            AssertRelative(Math.Sqrt(squares / values.Length), actual.Rms, $"{what} ch{actual.Channel} rms");
            AssertRelative(Math.Sqrt(deviations / values.Length), actual.Std, $"{what} ch{actual.Channel} std");
        }
    }

    private static void AssertRelative(double expected, double actual, string what) =>
        Assert.True(Math.Abs(actual - expected) <= Tolerance * Math.Abs(expected), $"{what}: {actual:R} vs {expected:R} (relative {Math.Abs(actual - expected) / Math.Abs(expected):E2})");

    private async Task WriteAsync(IReadOnlyList<StoredChunk> chunks)
    {
        // Batches of 16, as the store writer sends them, so upper levels are also built across batches.
        for (var i = 0; i < chunks.Count; i += 16)
        {
            await fixture.Store.WriteChunksAsync([.. chunks.Skip(i).Take(16)], CancellationToken.None);
        }
    }

    private static StoredChunk Chunk(Guid id, long seq, long first, long t0, int n, int channels, Func<int, long, float> value)
    {
        var payload = new byte[n * channels * sizeof(float)];
        var values = MemoryMarshal.Cast<byte, float>(payload.AsSpan());
        var min = new float[channels];
        var max = new float[channels];
        for (var c = 0; c < channels; c++)
        {
            for (var i = 0; i < n; i++)
            {
                values[c * n + i] = value(c, first + i);
            }
            (min[c], max[c]) = M4.MinMaxScalar(values.Slice(c * n, n));
        }
        return new StoredChunk
        {
            MeasurementId = id, Sequence = seq, FirstSampleIndex = first, T0Ns = t0, SampleCount = n, ChannelCount = channels,
            Payload = payload, Min = min, Max = max,
        };
    }
}

public sealed class SqliteRangeStatisticsTests(SqliteStoreFixture fixture) : RangeStatisticsTests(fixture), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresRangeStatisticsTests(PostgresStoreFixture fixture) : RangeStatisticsTests(fixture), IClassFixture<PostgresStoreFixture>;
