using MeasureApp.Bench.Load;

namespace MeasureApp.Tests.Bench;

/// <summary>The <c>load scpi</c> scenario on a tiny run: every phase delivers and reports. No speed is asserted.</summary>
public sealed class ScpiBenchSmokeTests
{
    [Fact]
    public async Task TheScpiScenarioReportsEveryModeBesideTheSocketBaseline()
    {
        var scenario = LoadScenarios.Find("scpi");
        Assert.NotNull(scenario);
        var options = LoadOptions.From(("seconds", "0.3"), ("rate", "200"), ("points", "500"));

        var report = await scenario.RunAsync(options, TextWriter.Null, CancellationToken.None);

        Assert.Empty(options.Unread());
        Assert.Equal(
            ["raw socket round trip (line echo)", "polled DMM flat out, SYST:ERR? after each", "polled DMM flat out, no error query",
             "polled DMM paced at 200 Hz", "block scope int16, 500 points/block", "block scope ASCII, 500 points/block"],
            report.Metrics.Select(m => m.Name));
        Assert.All(report.Metrics, m => Assert.True(m.Value > 0, $"{m.Name}: {m.Value}"));
    }
}
