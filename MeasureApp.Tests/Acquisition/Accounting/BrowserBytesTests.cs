using System.Security.Claims;
using MeasureApp.Acquisition.Accounting;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using MeasureApp.Identity;
using MeasureApp.Live;
using MeasureApp.Tests.Storage;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.Extensions.Logging.Abstractions;
using static MeasureApp.Tests.Acquisition.EngineHarness;

namespace MeasureApp.Tests.Acquisition.Accounting;

public sealed class BrowserBytesTests
{
    [Fact]
    public async Task AnAdminWatchingSomeonesMeasurementIsChargedForTheBytesSentToTheirOwnBrowser()
    {
        await using var e = await AccountedEngine.StartNewAsync();
        var m = await e.StartMeasurementAsync(Alice, Request());
        // Attaching a chart never asks for limits (only starting does), so the session gets none.
        await using var adminTab = new UserSession(e.Engine, e.Hub, null!, new CurrentUser(new LoggedIn(AnAdmin)), e.Time,
            NullLogger<UserSession>.Instance, e.Accountant);
        long rendered = 0;

        using var chart = await adminTab.AttachAsync(m.Id, 200, frame =>
        {
            Interlocked.Add(ref rendered, TrafficEstimate.BrowserBytes(frame));
            return Task.CompletedTask;
        }, _ => { });
        Assert.NotNull(chart);
        // Time moves (acquiring samples, ticking the tab's drain loop) only until something was rendered,
        // so the charge of the last render is not chased by another one.
        await Eventually.TrueAsync(() => Interlocked.Read(ref rendered) > 0 && e.UsageOf(AnAdmin).BytesToBrowser == Interlocked.Read(ref rendered),
            "the rendered frames are charged to the admin",
            eachRound: () =>
            {
                if (Interlocked.Read(ref rendered) == 0)
                {
                    e.Time.Advance(TimeSpan.FromMilliseconds(20));
                }
            });

        Assert.True(Interlocked.Read(ref rendered) > TrafficEstimate.BrowserBytesPerRender, "a render carries points");
        Assert.Equal(0, e.UsageOf(Alice).BytesToBrowser);
        Assert.True(e.UsageOf(Alice).Samples > 0);
        Assert.Equal(0, e.UsageOf(AnAdmin).Samples);
    }

    [Fact]
    public void TheBrowserEstimateIsSixteenBytesPerPointPlusAFixedOverheadPerRender()
    {
        var frame = new LiveFrame(2);
        frame.X[0].AddRange([0.0, 0.001, 0.002]);
        frame.Y[0].AddRange([1f, 2f, 3f]);
        frame.X[1].AddRange([0.0]);
        frame.Y[1].AddRange([1f]);

        Assert.Equal(TrafficEstimate.BrowserBytesPerRender + (4 * 16), TrafficEstimate.BrowserBytes(frame));
        Assert.Equal(TrafficEstimate.MemoryBytesPerFrame + (4 * TrafficEstimate.MemoryBytesPerList) + (4 * 12), TrafficEstimate.MemoryBytes(frame));
    }

    private sealed class LoggedIn(Requester user) : AuthenticationStateProvider
    {
        public override Task<AuthenticationState> GetAuthenticationStateAsync()
        {
            List<Claim> claims = [new(ClaimTypes.NameIdentifier, user.UserId), new(ClaimTypes.Name, user.UserName)];
            if (user.IsAdmin)
            {
                claims.Add(new Claim(ClaimTypes.Role, Roles.Admin));
            }
            return Task.FromResult(new AuthenticationState(new ClaimsPrincipal(new ClaimsIdentity(claims, "test"))));
        }
    }
}
