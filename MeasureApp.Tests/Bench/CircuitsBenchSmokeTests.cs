using MeasureApp.Bench.Load;

namespace MeasureApp.Tests.Bench;

/// <summary>
/// The <c>load circuits</c> scenario on a tiny run: a headless tab of the real app (child process) opens the
/// Live page over the Blazor hub and every one of its charts draws, and so does the bare page. No speed is asserted.
/// </summary>
public sealed class CircuitsBenchSmokeTests
{
    [Fact]
    public async Task AHeadlessTabDrawsEveryLiveChartAndTheBarePageTicks()
    {
        var scenario = LoadScenarios.Find("circuits");
        Assert.NotNull(scenario);
        var options = LoadOptions.From(("users", "1"), ("measurements", "2"), ("warmup", "0"), ("seconds", "1"), ("baseline", null));

        var report = await scenario.RunAsync(options, TextWriter.Null, CancellationToken.None);

        Assert.Empty(options.Unread());
        var values = report.Metrics.ToDictionary(m => m.Name, m => m.Value);
        Assert.True(values["Live page: frames/s per chart (mean), 1 tabs × 2 charts"] > 0, report.ToText());
        Assert.True(values["Bare page: ticks/s per tab (mean), 1 tabs"] > 0, report.ToText());
        Assert.Equal(0, values["Live page: circuit errors / dropped tabs"]);
        Assert.Equal(0, values["Bare page: circuit errors / dropped tabs"]);
    }
}
