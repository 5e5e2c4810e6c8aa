using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using MeasureApp.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Browser;

/// <summary>Each tab is its own session: pausing one tab's display leaves another tab of the same user live.</summary>
public sealed class SessionBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    // Time (s) of the newest point of the first trace, or -1 before the first point.
    private const string LastX = "() => { const p = document.querySelector('.js-plotly-plot'); if (!p || !p.data || !p.data[0] || p.data[0].x.length === 0) return -1; const x = p.data[0].x; return x[x.length - 1]; }";

    [Fact]
    public async Task PausingOneTabDoesNotPauseAnotherTabOfTheSameUser()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services, "tabs@test.local");
        var engine = browser.Factory.Services.GetRequiredService<MeasurementEngine>();
        var owner = new Requester(op.Id, op.Email!, IsAdmin: false);
        var started = await engine.StartAsync(owner, new UserLimits(),
            new StartRequest { DeviceId = "sim-1", Name = "Two tabs", Channels = 1, SampleRate = 1000 }, CancellationToken.None);
        Assert.True(started.Succeeded, started.Error);
        try
        {
            var tabA = await browser.LoggedInPageAsync(op.Email!, Users.Password);
            var tabB = await tabA.Context.NewPageAsync();
            await BrowserFixture.GotoInteractiveAsync(tabA, "/live");
            await BrowserFixture.GotoInteractiveAsync(tabB, "/live");
            await tabA.WaitForFunctionAsync($"({LastX})() > 0");
            await tabB.WaitForFunctionAsync($"({LastX})() > 0");

            await tabA.ClickAsync("#pause-button");
            await tabA.WaitForSelectorAsync("#paused-chip");
            // A render already in flight when the pause landed may still arrive. Settled means: the
            // server reported a whole status window without a render (the tab's loop sends the status
            // after its render went through), then the browser drew what it still held in the next
            // animation frames. From then on A must not move at all while B goes on.
            await tabA.WaitForFunctionAsync("() => document.querySelector('.live-chart .chip-fps')?.textContent.trim() === '0 fps'");
            await tabA.EvaluateAsync("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))");
            var pausedAt = await tabA.EvaluateAsync<double>(LastX);
            await tabB.WaitForFunctionAsync($"({LastX})() > {pausedAt + 1.0}");
            var stillA = await tabA.EvaluateAsync<double>(LastX);
            Assert.Equal(pausedAt, stillA);
            Assert.Empty(await tabB.QuerySelectorAllAsync("#paused-chip"));

            await tabA.ClickAsync("#pause-button");
            await tabA.WaitForFunctionAsync($"({LastX})() > {stillA + 0.5}");
            await tabA.Context.CloseAsync();
        }
        finally
        {
            await engine.StopAsync(started.Measurement!.Id, owner, CancellationToken.None);
        }
    }
}
