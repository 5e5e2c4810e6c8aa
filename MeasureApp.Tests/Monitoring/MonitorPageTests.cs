using System.Globalization;
using Bunit;
using MeasureApp.Data;
using MeasureApp.Monitoring;
using MeasureApp.Presence;
using MeasureApp.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Plotly.Blazor;
using Plotly.Blazor.Traces;
using MonitorPage = MeasureApp.Components.Pages.Admin.Monitor;

namespace MeasureApp.Tests.Monitoring;

/// <summary>
/// The Monitor page rendered with bUnit on the real services of a fresh app: the users chart opens
/// with the stored presence snapshots of the last hour, and the latency tiles show the live charts'
/// percentiles with p99 red above the configured threshold.
/// </summary>
public sealed class MonitorPageTests : MudTestContext
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly AppFactory _factory = new(DatabaseProvider.Sqlite);
    private AsyncServiceScope? _scope;

    [Fact]
    public async Task TheUsersChartOpensWithTheLastHourOfStoredSnapshotsOldestFirst()
    {
        var now = DateTimeOffset.UtcNow;
        now = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, now.Second, TimeSpan.Zero);
        var stored = new (DateTimeOffset At, int Users)[]
        {
            (now.AddHours(-2), 991), (now.AddMinutes(-50), 971), (now.AddMinutes(-30), 911), (now.AddMinutes(-2), 913),
        };
        var contexts = _factory.Services.GetRequiredService<IDbContextFactory<AppDbContext>>();
        await using (var db = await contexts.CreateDbContextAsync())
        {
            // Stored newest first, so the page must order them by time.
            foreach (var (at, count) in stored.Reverse())
            {
                db.Set<PresenceSnapshotRecord>().Add(new PresenceSnapshotRecord { At = at, ActiveUsers = count, OpenTabs = count + 1 });
            }
            await db.SaveChangesAsync();
        }

        var page = Render();

        var users = (Scatter)page.FindComponent<PlotlyChart>().Instance.Data[0];
        Assert.Equal("active users", users.Name);
        var ys = users.Y.Cast<int>().ToList();
        Assert.DoesNotContain(991, ys);
        var shown = stored.Skip(1).Select(s => ys.IndexOf(s.Users)).ToList();
        Assert.All(shown, i => Assert.True(i >= 0, "every snapshot of the last hour is on the chart"));
        Assert.Equal(shown.Order(), shown);
        foreach (var (at, count) in stored.Skip(1))
        {
            Assert.Equal(at.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), users.X[ys.IndexOf(count)]);
        }
        // The live point (now, nobody connected) comes after the history.
        Assert.True(ys.Count > shown.Max() + 1);
        Assert.Equal(0, ys[^1]);
    }

    [Fact]
    public void TheLatencyTilesShowADashWithoutRendersThenThePercentilesWithP99RedAboveTheThreshold()
    {
        var threshold = _factory.Services.GetRequiredService<IOptions<MonitorOptions>>().Value.LatencyP99WarningMilliseconds;
        var stats = _factory.Services.GetRequiredService<LiveLatencyStats>();
        var page = Render();
        Assert.Equal("–", page.Find("#latency-p50").TextContent.Trim());
        Assert.Equal("–", page.Find("#latency-p99").TextContent.Trim());

        // 97 fast renders and a slow tail: p50 and p95 fast, p99 over the threshold.
        var fast = threshold / 4;
        var slow = threshold * 10;
        for (var i = 0; i < 97; i++)
        {
            stats.Record(fast);
        }
        stats.Record(slow);
        stats.Record(slow);
        stats.Record(slow);

        // The page's feed refreshes every second.
        page.WaitForAssertion(() => Assert.Equal(Ms(slow), page.Find("#latency-p99").TextContent.Trim()), Wait);
        Assert.Equal(Ms(fast), page.Find("#latency-p50").TextContent.Trim());
        Assert.Equal(Ms(fast), page.Find("#latency-p95").TextContent.Trim());
        Assert.Contains("overload", page.Find("#latency-p99").ClassList);
        Assert.DoesNotContain("overload", page.Find("#latency-p95").ClassList);
    }

    [Fact]
    public async Task ThePageKeepsUpdatingOnASecondVisitInTheSameTab()
    {
        var stats = _factory.Services.GetRequiredService<LiveLatencyStats>();
        var first = Render();
        stats.Record(11);
        first.WaitForAssertion(() => Assert.Equal(Ms(11), first.Find("#latency-p50").TextContent.Trim()), Wait);

        // Navigating away disposes the page; the circuit (and its scoped feed) lives on.
        await Context.DisposeComponentsAsync();
        var second = Context.Render<MonitorPage>();
        for (var i = 0; i < 10; i++)
        {
            stats.Record(222);
        }

        second.WaitForAssertion(() => Assert.Equal(Ms(222), second.Find("#latency-p99").TextContent.Trim()), Wait);
    }

    private static string Ms(double value) => value.ToString("0.0", CultureInfo.InvariantCulture) + " ms";

    private IRenderedComponent<MonitorPage> Render()
    {
        _scope = _factory.Services.CreateAsyncScope();
        Context.Services.AddSingleton(_scope.Value.ServiceProvider.GetRequiredService<MonitorFeed>());
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<IOptions<MonitorOptions>>());
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<PresenceTracker>());
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<MeasureApp.Analysis.SumsRebuildProgress>());
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<MeasureApp.Acquisition.Storage.StoreWriter>());
        return Render<MonitorPage>(_ => { });
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_scope is { } scope)
        {
            await scope.DisposeAsync();
        }
        await _factory.DisposeAsync();
    }
}
