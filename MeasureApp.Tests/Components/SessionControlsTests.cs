using Bunit;
using MeasureApp.Components.Live;
using MeasureApp.Live;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace MeasureApp.Tests.Components;

/// <summary>The per-tab display controls drive only their own tab's session.</summary>
public sealed class SessionControlsTests : MudTestContext
{
    // The controls only touch display state; the engine, hub and limits are never used by them.
    private readonly UserSession _session = new(null!, null!, null!, null!, TimeProvider.System, NullLogger<UserSession>.Instance);

    public SessionControlsTests() => Context.Services.AddSingleton(_session);

    [Fact]
    public void PauseAndResumeToggleThisTabsDisplayAndShowIt()
    {
        var controls = Render<SessionControls>(_ => { });
        Assert.Empty(controls.FindAll("#paused-chip"));

        controls.Find("#pause-button").Click();

        Assert.True(_session.Paused);
        controls.WaitForAssertion(() => Assert.Contains("recording continues", controls.Find("#paused-chip").TextContent, StringComparison.Ordinal));
        Assert.Contains("Resume", controls.Find("#pause-button").TextContent, StringComparison.Ordinal);

        controls.Find("#pause-button").Click();

        Assert.False(_session.Paused);
        controls.WaitForAssertion(() => Assert.Empty(controls.FindAll("#paused-chip")));
    }

    [Fact]
    public void AWindowChangeInTheSessionIsShownAndOutOfRangeWindowsAreRefused()
    {
        var controls = Render<SessionControls>(_ => { });

        _session.SetWindow(TimeSpan.FromMinutes(5));

        controls.WaitForAssertion(() => Assert.Contains("5 min", controls.Find("#window-select").ParentElement!.ParentElement!.TextContent, StringComparison.Ordinal));
        Assert.Throws<ArgumentOutOfRangeException>(() => _session.SetWindow(TimeSpan.FromMinutes(11)));
        Assert.Throws<ArgumentOutOfRangeException>(() => _session.SetWindow(TimeSpan.FromMilliseconds(500)));
        Assert.Equal(TimeSpan.FromMinutes(5), _session.Window);
    }

    public override async Task DisposeAsync()
    {
        await _session.DisposeAsync();
        await base.DisposeAsync();
    }
}
