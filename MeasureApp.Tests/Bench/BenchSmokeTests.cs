using MeasureApp.Bench.Load;

namespace MeasureApp.Tests.Bench;

/// <summary>
/// The load driver on a tiny, block-counted run: it must publish, decimate and report exactly what
/// it was asked to. No timing is asserted here; speed is measured by the bench itself.
/// </summary>
public sealed class BenchSmokeTests
{
    private static readonly FanoutSettings Tiny = new()
    {
        Measurements = 6,
        Users = 3,
        Subscriptions = 9,
        SampleRate = 100_000,
        MinChannels = 1,
        MaxChannels = 3,
        BlocksPerMeasurement = 20,
        Producers = 2,
        Capacity = 1024,
    };

    [Fact]
    public async Task EngineFanoutPublishesEveryBlockToEverySubscription()
    {
        var result = await EngineFanoutScenario.RunAsync(Tiny, CancellationToken.None);

        var blockSamples = Tiny.BlockSamples;
        Assert.Equal(500, blockSamples);
        Assert.Equal(6 * 20, result.BlocksPublished);
        Assert.Equal(6L * 20 * blockSamples, result.SamplesPublished);
        // Channels cycle 1, 2, 3, 1, 2, 3 over the six measurements.
        Assert.Equal(20L * blockSamples * (1 + 2 + 3 + 1 + 2 + 3), result.ValuesPublished);
        Assert.Equal(0, result.RefusedSubscriptions);
        Assert.Equal(9, result.SamplesSeenPerSubscription.Count);
        Assert.All(result.SamplesSeenPerSubscription, seen => Assert.Equal(20L * blockSamples, seen));
        Assert.True(result.ValuesIntoBuffers > 0);
        Assert.Equal(0, result.ForeignFrames);
    }

    [Fact]
    public async Task EngineFanoutDeliversDecimatedFramesAndALatencyHistogram()
    {
        var result = await EngineFanoutScenario.RunAsync(Tiny, CancellationToken.None);

        // 20 blocks of 500 samples fill 10 columns of 1000 samples per channel: frames carry points.
        Assert.Equal(0, result.FramesDropped);
        Assert.True(result.FramesRead >= 9 * 10, $"frames read: {result.FramesRead}");
        Assert.True(result.PointsRead > 0);
        Assert.Equal(result.BlocksPublished, result.PublishLatency.Count);
        Assert.Equal(result.PublishLatency.Count, result.PublishLatency.Histogram().Sum(b => b.Count));
        Assert.True(result.PublishLatency.PercentileNs(0.5) <= result.PublishLatency.PercentileNs(0.99));
        Assert.True(result.PublishLatency.PercentileNs(0.99) <= result.PublishLatency.MaxNs);
    }

    [Fact]
    public async Task EngineFanoutReportHasTheGoalRowsAndWritesItsOwnSection()
    {
        var scenario = LoadScenarios.Find("engine-fanout");
        Assert.NotNull(scenario);
        var options = LoadOptions.From(("measurements", "4"), ("users", "2"), ("subscriptions", "4"), ("blocks", "4"), ("producers", "1"));

        var report = await scenario.RunAsync(options, TextWriter.Null, CancellationToken.None);

        Assert.Empty(options.Unread());
        Assert.Contains(report.Metrics, m => m.Name.StartsWith("block→buffer p99 ", StringComparison.Ordinal) && m.Reference.Contains("1000", StringComparison.Ordinal));
        Assert.Contains(report.Metrics, m => m.Name.StartsWith("values decimated into session buffers", StringComparison.Ordinal) && m.Value > 0);
        var path = Path.Combine(Path.GetTempPath(), $"bench-smoke-{Guid.NewGuid():N}.md");
        try
        {
            File.WriteAllText(path, "# Benchmarks\n\nprose stays\n");
            BenchmarksDoc.UpdateSection(path, report.SectionKey, "PLACEHOLDER-SECTION-1");
            BenchmarksDoc.UpdateSection(path, report.SectionKey, report.ToMarkdown(DateTimeOffset.UnixEpoch));
            var text = File.ReadAllText(path);
            Assert.Contains("prose stays", text, StringComparison.Ordinal);
            Assert.DoesNotContain("PLACEHOLDER-SECTION-1", text, StringComparison.Ordinal);
            Assert.Single(System.Text.RegularExpressions.Regex.Matches(text, "load:engine-fanout:flat:begin"));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
