using System.Security.Claims;
using Bunit;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Components.Live;
using MeasureApp.Identity;
using MeasureApp.Live;
using MeasureApp.Tests.Acquisition;
using MeasureApp.Tests.Infrastructure;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace MeasureApp.Tests.Components;

/// <summary>The chart card: its status chips show the session's numbers, and Stop goes through the tab's session.</summary>
public sealed class LiveChartTests : MudTestContext
{
    [Fact]
    public void TheStatusChipsRenderTheNumbers()
    {
        var chips = Render<StatusChips>(p => p.Add(x => x.Status, new ChartStatus(58.6, 23.4, 0, 100_000)));

        Assert.Equal("59 fps", chips.Find(".chip-fps").TextContent.Trim());
        Assert.Equal("23 ms", chips.Find(".chip-latency").TextContent.Trim());
        Assert.Equal("0 dropped", chips.Find(".chip-dropped").TextContent.Trim());
        Assert.Equal("100,000 S/s", chips.Find(".chip-rate").TextContent.Trim());
        Assert.DoesNotContain("mud-chip-color-warning", chips.Find(".chip-dropped").ClassName, StringComparison.Ordinal);
    }

    [Fact]
    public void DroppedFramesOfAThrottledBrowserShowInAmber()
    {
        var chips = Render<StatusChips>(p => p.Add(x => x.Status, new ChartStatus(60, 20, 0, 10_000)));

        Assert.DoesNotContain("warning", chips.Find(".chip-dropped").ClassName, StringComparison.Ordinal);
        chips.Render(p => p.Add(x => x.Status, new ChartStatus(12, 140, 1_234, 10_000)));

        Assert.Equal("1,234 dropped", chips.Find(".chip-dropped").TextContent.Trim());
        Assert.Contains("mud-chip-color-warning", chips.Find(".chip-dropped").ClassName, StringComparison.Ordinal);
        Assert.Equal("12 fps", chips.Find(".chip-fps").TextContent.Trim());
    }

    [Fact]
    public async Task LiveChipsShowEachReportAndKeepTheCardsExtraChips()
    {
        var chips = Render<LiveStatusChips>(p => p.AddChildContent("<span class=\"chip-extra\">faults</span>"));
        Assert.Equal("0 fps", chips.Find(".chip-fps").TextContent.Trim());

        await chips.InvokeAsync(() => chips.Instance.Show(new ChartStatus(42.4, 17, 3, 1_000)));

        Assert.Equal("42 fps", chips.Find(".chip-fps").TextContent.Trim());
        Assert.Equal("17 ms", chips.Find(".chip-latency").TextContent.Trim());
        Assert.Contains("mud-chip-color-warning", chips.Find(".chip-dropped").ClassName, StringComparison.Ordinal);
        Assert.Equal("faults", chips.Find(".chip-extra").TextContent);
    }

    [Fact]
    public void ReplayChipsShowPositionSpeedAndState()
    {
        var chips = Render<StatusChips>(p => p
            .Add(x => x.State, "paused")
            .Add(x => x.Playing, false)
            .Add(x => x.Position, "12.5 s / 120.0 s")
            .Add(x => x.Speed, 10));

        Assert.Equal("paused", chips.Find(".chip-state").TextContent.Trim());
        Assert.DoesNotContain("success", chips.Find(".chip-state").ClassName, StringComparison.Ordinal);

        // Playing, then paused again: the chip follows both ways.
        chips.Render(p => p.Add(x => x.State, "playing").Add(x => x.Playing, true));
        Assert.Contains("mud-chip-color-success", chips.Find(".chip-state").ClassName, StringComparison.Ordinal);
        chips.Render(p => p.Add(x => x.State, "paused").Add(x => x.Playing, false));
        Assert.DoesNotContain("success", chips.Find(".chip-state").ClassName, StringComparison.Ordinal);
        Assert.Equal("12.5 s / 120.0 s", chips.Find(".chip-position").TextContent.Trim());
        Assert.Equal("10×", chips.Find(".chip-speed").TextContent.Trim());
        Assert.Empty(chips.FindAll(".chip-dropped"));
    }

    [Fact]
    public async Task StopOnTheCardStopsTheMeasurementThroughTheSession()
    {
        await using var harness = await EngineHarness.StartNewAsync();
        var auth = Context.AddAuthorization();
        auth.SetAuthorized(EngineHarness.Alice.UserName);
        auth.SetClaims(new Claim(ClaimTypes.NameIdentifier, EngineHarness.Alice.UserId));
        // The real session of a tab over the real engine; limits are not needed to stop.
        Context.Services.AddSingleton(sp => new UserSession(harness.Engine, harness.Hub, null!,
            new CurrentUser(sp.GetRequiredService<AuthenticationStateProvider>()), harness.Time, NullLogger<UserSession>.Instance));
        Context.Services.AddSingleton<LiveDrawBatch>();
        // The card's "Mark now" adds annotations as the logged-in user.
        Context.Services.AddSingleton(sp => new CurrentUser(sp.GetRequiredService<AuthenticationStateProvider>()));
        // The card's chart shows the measurement's annotations (none here: the app's catalog does not hold this harness's measurement).
        using var app = new AppFactory(DatabaseProvider.Sqlite);
        Context.Services.AddSingleton(app.Services.GetRequiredService<MeasureApp.Annotations.AnnotationService>());
        // The card's feed hint looks the device up (a simulated one: no hint) and knows the Network listeners.
        Context.Services.AddSingleton(harness.Engine);
        Context.Services.AddSingleton(new MeasureApp.Collectors.FeedCommands(new MeasureApp.Acquisition.Devices.Network.NetworkDriver(
            new MeasureApp.Acquisition.Coordination.InMemoryCollectorTokens(), harness.Time,
            Microsoft.Extensions.Options.Options.Create(new MeasureApp.Acquisition.Devices.AcquisitionOptions()), NullLoggerFactory.Instance)));
        var running = await harness.StartMeasurementAsync(EngineHarness.Alice, EngineHarness.Request("Card run", channels: 2));
        MeasurementInfo? stopped = null;

        var card = Render<LiveChart>(p => p
            .Add(x => x.Measurement, running)
            .Add(x => x.OnStopped, m => stopped = m));

        Assert.Contains("Card run", card.Find(".mud-card-header").TextContent, StringComparison.Ordinal);
        Assert.Contains("2 ch", card.Find(".mud-card-header").TextContent, StringComparison.Ordinal);
        var whenStopped = harness.WhenStopped(EngineHarness.Alice.UserId, running.Id);
        card.Find(".stop-button").Click();

        var final = await whenStopped;
        Assert.Equal(StopReason.User, final.StopReason);
        Assert.Empty(harness.Engine.GetRunning(EngineHarness.Alice));
        card.WaitForAssertion(() => Assert.Equal(running.Id, stopped?.Id));
    }
}
