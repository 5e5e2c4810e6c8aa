using System.Net;
using MeasureApp.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Coordination;

/// <summary>The Monitor page says so while Redis is down (presence of this instance only), and stops saying so when it is back.</summary>
public sealed class PresenceDegradedBrowserTests : IAsyncLifetime
{
    private PrivateRedis? _redis;
    private AppFactory? _app;
    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private Uri? _baseAddress;

    public async Task InitializeAsync()
    {
        _redis = await PrivateRedis.StartAsync();
        _app = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = _redis.ConnectionString });
        _app.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        _app.StartServer();
        _baseAddress = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = TestEnvironment.ChromiumPath,
            Headless = true,
            Args = BrowserFixture.ChromiumArgs,
        });
    }

    [Fact]
    public async Task TheMonitorWarnsWhilePresenceCoversThisInstanceOnly()
    {
        var context = await _browser!.NewContextAsync(new BrowserNewContextOptions { BaseURL = _baseAddress!.ToString(), ViewportSize = new ViewportSize { Width = 1400, Height = 900 }, BypassCSP = true });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/Account/Login");
        await page.FillAsync("#email", AppFactory.AdminEmail);
        await page.FillAsync("#password", AppFactory.AdminPassword);
        await page.ClickAsync("#login-submit");
        await page.WaitForURLAsync(url => !url.Contains("/Account/Login", StringComparison.Ordinal));
        await BrowserFixture.GotoInteractiveAsync(page, "/admin/monitor");
        Assert.Equal(0, await page.Locator("#presence-degraded").CountAsync());

        await _redis!.KillAsync();

        var alert = page.Locator("#presence-degraded");
        await alert.WaitForAsync(new LocatorWaitForOptions { Timeout = 30_000 });
        Assert.Contains("Redis unreachable", await alert.InnerTextAsync(), StringComparison.Ordinal);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("monitor-redis-degraded.png"), FullPage = true });

        await _redis.StartServerAsync();
        await alert.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Detached, Timeout = 60_000 });
        await context.CloseAsync();
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }
        _playwright?.Dispose();
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
        _redis?.Dispose();
    }
}
