using System.Diagnostics;
using MeasureApp.Security;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MeasureApp.Tests.Browser;

/// <summary>The app with a small UI event budget per tab: 20 events per second, bursts of 20, 2 s over it ends the connection.</summary>
public sealed class TightEventBudgetFixture() : BrowserFixture(new Dictionary<string, string?>
{
    ["Security:CircuitEventsPerSecond"] = "20",
    ["Security:CircuitEventBurst"] = "20",
    ["Security:CircuitFloodSeconds"] = "2",
    ["Metrics:ScrapeToken"] = TightEventBudgetFixture.ScrapeToken,
})
{
    public const string ScrapeToken = "event-budget-scrape-token";
}

/// <summary>Issue 13 (Low): a tab flooding UI events (190,000 in 40 s) is held to its budget and
/// disconnected with a logged, counted reason, in real Chromium over a real circuit; another user's
/// live chart and clicks are never slowed.</summary>
public sealed class CircuitEventBudgetBrowserTests(TightEventBudgetFixture browser, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<TightEventBudgetFixture>
{
    [Fact]
    public async Task AFloodOfClicksIsHeldToTheTabsBudgetAndDisconnectedWhileAnotherUsersLiveChartIsNeverSlowed()
    {
        var flooder = await Users.CreateOperatorAsync(browser.Factory.Services, "flooder@test.local");
        var normal = await Users.CreateOperatorAsync(browser.Factory.Services, "calm@test.local");
        var limiter = browser.Factory.Services.GetRequiredService<CircuitEventLimiter>();

        var calm = await browser.LoggedInPageAsync(normal.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(calm, "/live");
        await LivePageDriver.StartMeasurementAsync(calm, "calm sine");
        await LivePageDriver.WaitForPointsAsync(calm, 50);

        var flood = await browser.LoggedInPageAsync(flooder.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(flood, "/live");
        await flood.WaitForSelectorAsync("#theme-toggle");
        var before = limiter.For(flooder.Id).Admitted;
        var clock = Stopwatch.StartNew();
        // 5,000 clicks at once, each one a DispatchBrowserEvent message on the tab's circuit.
        await flood.EvaluateAsync("() => { const b = document.querySelector('#theme-toggle'); for (let i = 0; i < 5000; i++) b.click(); }");
        await Eventually.TrueAsync(() => limiter.For(flooder.Id).Disconnected >= 1, "the flooding tab is disconnected", TimeSpan.FromSeconds(90));
        var seconds = clock.Elapsed.TotalSeconds;
        var flooded = limiter.For(flooder.Id);
        output.WriteLine($"5000 clicks sent; {flooded.Admitted - before} handled, {flooded.Delayed} waited, disconnected after {seconds:F1} s");

        // The bucket admits at most its burst plus the rate for the time the flood lasted.
        Assert.InRange(flooded.Admitted - before, 1, 20 + (20 * seconds) + 1);
        Assert.True(flooded.Admitted - before < 5000, "Every click of the flood was handled.");
        Assert.True(flooded.Delayed > 0);
        Assert.Contains(browser.Factory.Logs.Lines, l => l.Level == LogLevel.Warning
            && l.Message.Contains($"user {flooder.Id}", StringComparison.Ordinal) && l.Message.Contains("disconnected: more than 20 UI events per second", StringComparison.Ordinal));
        using var http = new HttpClient { BaseAddress = browser.BaseAddress };
        using var scrape = new HttpRequestMessage(HttpMethod.Get, "/metrics") { Headers = { { "Authorization", "Bearer " + TightEventBudgetFixture.ScrapeToken } } };
        using var metrics = await http.SendAsync(scrape);
        Assert.Contains($"measureapp_circuit_flood_disconnects_total{{user=\"{flooder.Id}\"}} 1", await metrics.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The other user's tab: its live chart (replies only) and its clicks never waited, and it still works.
        var points = await LivePageDriver.TracePointCountAsync(calm);
        await calm.ClickAsync(".stop-button");
        await calm.WaitForSelectorAsync("#no-running");
        var untouched = limiter.For(normal.Id);
        Assert.True(untouched.Admitted > 0);
        Assert.Equal(0, untouched.Delayed);
        Assert.Equal(0, untouched.Disconnected);
        Assert.True(points > 50);
        await flood.Context.CloseAsync();
        await calm.Context.CloseAsync();
    }
}
