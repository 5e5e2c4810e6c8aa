using MeasureApp.Bench.Load;

namespace MeasureApp.Tests.Bench;

/// <summary>
/// The export load scenario on a tiny input: every writer and baseline runs and counts the same
/// values; the writers' output has the size their formats imply. No timing is asserted.
/// </summary>
public sealed class ExportBenchSmokeTests
{
    [Fact]
    public async Task ExportScenarioRunsEveryWriterAndBaselineOverTheSameValues()
    {
        var settings = new ExportSettings { Rows = 25_000, Channels = 2, ChunkSamples = 10_000, Rounds = 1 };

        var cases = await ExportScenario.RunAsync(settings, TextWriter.Null, CancellationToken.None);

        Assert.Equal(5, cases.Count);
        Assert.All(cases, c => Assert.Equal(50_000, c.Values));
        Assert.All(cases, c => Assert.True(c.ValuesPerSecond > 0 && c.Bytes > 0, c.Name));
        var parquet = cases.Single(c => c.Name == "Parquet");
        var raw = cases.Single(c => c.Name.StartsWith("Parquet baseline", StringComparison.Ordinal));
        // 25,000 rows × (8 + 2 × 4) bytes of values, plus page headers and the footer (a few KB).
        Assert.Equal(25_000 * 16, raw.Bytes);
        Assert.InRange(parquet.Bytes, raw.Bytes, raw.Bytes + 8192);
        // ISO time stamps are 30 bytes, "seconds from start" at most 19 here: ISO rows are longer.
        Assert.True(cases.Single(c => c.Name == "CSV iso").Bytes > cases.Single(c => c.Name == "CSV seconds").Bytes);
    }
}
