using System.Globalization;
using System.Net;
using MeasureApp.Monitoring;
using MeasureApp.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Monitoring;

public sealed class LatencyMetricsTests
{
    [Fact]
    public async Task MetricsExportTheLiveLatencyPercentilesInSecondsAndNaNWithoutRenders()
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?> { ["Metrics:RequireAdmin"] = "false" });
        using var client = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        var idle = await ScrapeAsync(client);
        Assert.Contains("measureapp_live_renders 0\n", idle, StringComparison.Ordinal);
        Assert.Contains("measureapp_live_latency_seconds{percentile=\"99\"} NaN\n", idle, StringComparison.Ordinal);

        var stats = factory.Services.GetRequiredService<LiveLatencyStats>();
        foreach (var ms in Enumerable.Range(1, 100))
        {
            stats.Record(ms);
        }
        var busy = await ScrapeAsync(client);

        Assert.Contains("measureapp_live_renders 100\n", busy, StringComparison.Ordinal);
        Assert.Contains(Line("50", 0.050), busy, StringComparison.Ordinal);
        Assert.Contains(Line("95", 0.095), busy, StringComparison.Ordinal);
        Assert.Contains(Line("99", 0.099), busy, StringComparison.Ordinal);
    }

    private static string Line(string percentile, double seconds) =>
        $"measureapp_live_latency_seconds{{percentile=\"{percentile}\"}} {seconds.ToString(CultureInfo.InvariantCulture)}\n";

    private static async Task<string> ScrapeAsync(HttpClient client)
    {
        var response = await client.GetAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }
}
