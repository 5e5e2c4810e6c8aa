using MeasureApp.Bench.Load;
using MeasureApp.Tests.Infrastructure;

namespace MeasureApp.Tests.Bench;

/// <summary>
/// The search bench on a tiny store, on each provider: every timed query finds exactly the measurements its data
/// generator put there, so the latencies it reports are of queries that work. No timing is asserted.
/// </summary>
public sealed class SearchBenchSmokeTests
{
    [Theory]
    [InlineData(BenchProvider.Sqlite)]
    [InlineData(BenchProvider.Postgres)]
    public async Task EverySearchQueryOfTheBenchFindsExactlyTheGeneratedMatches(BenchProvider provider)
    {
        var settings = new SearchSettings
        {
            Providers = [provider],
            PostgresAdmin = provider == BenchProvider.Postgres ? TestEnvironment.PostgresConnectionString : null,
            Measurements = 700,
            Reads = 1,
        };

        var result = await SearchScenario.RunAsync(settings, provider, TextWriter.Null, CancellationToken.None);

        // The searcher owns every 10th of 700; thermal = every 7th, brown-out = every 17th of every 5th, rev-b = every 11th.
        Assert.Equal([70, 700, 1, 10, 10, 1, 5, 0, 0, 2], result.Queries.Select(q => q.Matches));
        Assert.All(result.Queries, q => Assert.Equal(1, q.Latency.Count));
    }
}
