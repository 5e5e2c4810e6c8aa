using MeasureApp.Bench.Load;

namespace MeasureApp.Tests.Bench;

/// <summary>
/// The storage load scenarios on tiny inputs against SQLite: they must write through the real store,
/// read back at every zoom and report every case. No timing is asserted; speed is the bench's job.
/// </summary>
public sealed class StoreBenchSmokeTests
{
    [Fact]
    public async Task StoreScenarioReportsBaselineAndStoreForEveryShape()
    {
        var settings = new StoreSettings
        {
            Providers = [BenchProvider.Sqlite],
            Shapes = [(8, 1000), (1, 8192)],
            ValuesPerPass = 3 * 8192,
            BatchChunks = 2,
            Rounds = 1,
        };

        var cases = await StoreScenario.RunAsync(settings, TextWriter.Null, CancellationToken.None);

        // Per shape: baseline, store, pyramid CPU.
        Assert.Equal(6, cases.Count);
        Assert.Equal(2, cases.Count(c => c.Writer == "DbSampleStore"));
        Assert.All(cases, c => Assert.Equal(BenchProvider.Sqlite, c.Provider));
        // 3 whole chunks per pass in both shapes (8×1000 rounds 24,576 values down to 3 chunks = 24,000 values).
        Assert.Equal([24_000L, 24_000, 24_000, 3 * 8192, 3 * 8192, 3 * 8192], cases.Select(c => c.Values));
        Assert.All(cases, c => Assert.True(c.ValuesPerSecond > 0));
    }

    [Fact]
    public async Task HistoryReadScenarioReadsEveryZoomFromTheStoredMeasurement()
    {
        var settings = new HistoryReadSettings
        {
            Providers = [BenchProvider.Sqlite],
            Duration = TimeSpan.FromSeconds(0.3),
            SampleRate = 10_000,
            Channels = 2,
            Pixels = 100,
            Reads = 2,
            WarmupReads = 0,
            BatchChunks = 2,
            Zooms = [TimeSpan.FromHours(1), TimeSpan.FromMinutes(1), TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(5)],
        };

        var result = await HistoryReadScenario.RunAsync(settings, BenchProvider.Sqlite, TextWriter.Null, CancellationToken.None);

        // 0.3 s at 10 kHz in 1000-sample chunks: 3 chunks; the hour and the minute both mean "all of it", read once.
        Assert.Equal(3, result.ChunksStored);
        Assert.Equal(3000, result.StoredSamples);
        Assert.Equal(["300 ms", "100 ms", "5 ms"], result.Zooms.Select(z => z.Label));
        Assert.Equal([3000L, 1000, 50], result.Zooms.Select(z => z.SpanSamples));
        Assert.All(result.Zooms, z => Assert.Equal(2, z.Latency.Count));
        Assert.All(result.Zooms, z => Assert.True(z.Columns > 0));
    }
}
