using MeasureApp.Bench.Load;
using MeasureApp.Tests.Infrastructure;

namespace MeasureApp.Tests.Bench;

/// <summary>
/// The browser-latency scenario on one short case: the injected probe must see the real chart's
/// updates (and the no-op baseline's), map them to the measurement and produce causal, ordered
/// samples and a report with the goal rows. No timing is asserted; speed is measured by the bench.
/// </summary>
public sealed class BrowserLatencySmokeTests
{
    [Fact]
    public async Task ShortRunRecordsPaintedUpdatesOfTheChartAndOfTheBaseline()
    {
        var settings = new BrowserLatencySettings
        {
            Cases = [new BrowserLatencyCase(1000, 2, 1)],
            Duration = TimeSpan.FromSeconds(3),
            Warmup = TimeSpan.FromSeconds(0.5),
            ChromiumPath = TestEnvironment.ChromiumPath,
        };

        var phases = await BrowserLatencyScenario.RunAsync(settings, TextWriter.Null, CancellationToken.None);

        Assert.Equal(2, phases.Count);
        Assert.Single(phases, p => p.Noop);
        foreach (var phase in phases)
        {
            Assert.NotEmpty(phase.Updates);
            Assert.Equal(1, phase.ChartsSeen);
            Assert.Equal(phase.Updates.Count, phase.Latency.Count);
            Assert.True(phase.Recorded > TimeSpan.Zero);
            Assert.True(phase.FramesPerSecond > 0);
            // Causality: a sample is drawn after it was sampled, and each update after it arrived.
            Assert.True(phase.Latency.PercentileNs(0) > 0, $"smallest latency {phase.Latency.PercentileNs(0)} ns");
            Assert.True(phase.ToBrowser.PercentileNs(0) > 0, $"smallest sample→page {phase.ToBrowser.PercentileNs(0)} ns");
            Assert.All(phase.Updates, u =>
            {
                Assert.True(u.X > 0, $"x {u.X}");
                Assert.True(u.Points > 0);
                Assert.True(u.Received <= u.Done && u.Done <= u.Painted, $"received {u.Received}, done {u.Done}, painted {u.Painted}");
            });
            // The newest x drawn never goes back in time on one chart.
            var xs = phase.Updates.Select(u => u.X).ToList();
            Assert.Equal(xs.Order().ToList(), xs);
            Assert.True(phase.Latency.PercentileNs(0.5) <= phase.Latency.PercentileNs(0.99));
        }

        var report = BrowserLatencyScenario.ToReport(settings, phases);
        Assert.Contains(report.Metrics, m => m.Name.EndsWith(" p50", StringComparison.Ordinal) && m.Reference.Contains("goal ≤ 25 ms", StringComparison.Ordinal) && m.Reference.Contains("no-op baseline", StringComparison.Ordinal));
        Assert.Contains(report.Metrics, m => m.Name.EndsWith(" p99", StringComparison.Ordinal) && m.Reference.Contains("goal ≤ 60 ms", StringComparison.Ordinal) && m.Verdict.Contains("× no-op", StringComparison.Ordinal));
        Assert.Contains(report.Metrics, m => m.Name.EndsWith("fps per chart", StringComparison.Ordinal) && m.Value > 0);
    }

    [Fact]
    public void UpdatesOfAChartTheRunDidNotStartAreAnError()
    {
        var known = Guid.NewGuid();
        var stranger = Guid.NewGuid();
        var take = BrowserLatencyProbe.Parse(
            $$"""{"since":1000,"until":2000,"pending":0,"updates":[{"id":"chart-{{stranger:N}}","x":0.5,"received":1500,"done":1501,"painted":1510,"points":4}]}""");

        var ex = Assert.Throws<InvalidOperationException>(() =>
            BrowserLatencyScenario.Summarize(new BrowserLatencyCase(1000, 1, 1), false, take, new Dictionary<Guid, long> { [known] = 0 }, 0));

        Assert.Contains(stranger.ToString(), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SummaryTurnsXIntoWallTimeWithSampleZero()
    {
        var id = Guid.NewGuid();
        // Sample 0 at t = 1,000 ms; x = 0.5 s was sampled at 1,500 ms, arrived at 1,520, drawn by 1,524, painted at 1,540.
        var take = BrowserLatencyProbe.Parse(
            $$"""{"since":1000,"until":3000,"pending":1,"updates":[{"id":"chart-{{id:N}}","x":0.5,"received":1520,"done":1524,"painted":1540,"points":8}]}""");

        var phase = BrowserLatencyScenario.Summarize(new BrowserLatencyCase(1000, 1, 1), false, take, new Dictionary<Guid, long> { [id] = 1_000_000_000 }, 3);

        Assert.Equal(40_000_000, phase.Latency.PercentileNs(0.5));
        Assert.Equal(20_000_000, phase.ToBrowser.PercentileNs(0.5));
        Assert.Equal(4_000_000, phase.Draw.PercentileNs(0.5));
        Assert.Equal(16_000_000, phase.ToPaint.PercentileNs(0.5));
        Assert.Equal(0.5, phase.FramesPerSecond, 6);
    }

    [Theory]
    [InlineData("charts", "5")]
    [InlineData("rates", "fast")]
    [InlineData("channels", "0")]
    public async Task BadOptionsAreRefusedBeforeAnythingStarts(string option, string value)
    {
        var scenario = LoadScenarios.Find("browser-latency");
        Assert.NotNull(scenario);

        var ex = await Assert.ThrowsAsync<ArgumentException>(() =>
            scenario.RunAsync(LoadOptions.From((option, value)), TextWriter.Null, CancellationToken.None));

        Assert.Contains("--" + option, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MalformedProbeOutputIsAClearError()
    {
        Assert.ThrowsAny<System.Text.Json.JsonException>(() => BrowserLatencyProbe.Parse("{\"updates\": 5}"));
        Assert.Throws<FormatException>(() => BrowserLatencyProbe.MeasurementOf("plot-1"));
    }
}
