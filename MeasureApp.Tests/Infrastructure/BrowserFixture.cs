using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Infrastructure;

/// <summary>
/// The real app on a loopback Kestrel port plus Debian's Chromium driven by Playwright
/// (never a downloaded browser). One per test class.
/// </summary>
public class BrowserFixture : IAsyncLifetime
{
    public BrowserFixture()
        : this(null)
    {
    }

    /// <summary>For a fixture whose app runs with its own settings (a derived fixture class).</summary>
    protected BrowserFixture(IDictionary<string, string?>? settings) => Factory = new(DatabaseProvider.Sqlite, settings);

    public static readonly string[] ChromiumArgs =
    [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic",
    ];

    private IPlaywright? _playwright;

    public AppFactory Factory { get; }

    public IBrowser Browser { get; private set; } = null!;

    public Uri BaseAddress { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Factory.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        Factory.StartServer();
        var addresses = Factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!;
        BaseAddress = new Uri(addresses.Addresses.First());
        // Waits are for states, never margins: on a loaded 2-core CI machine a state can take longer than
        // Playwright's defaults (5 s for expectations, 30 s for actions) without anything being wrong.
        Assertions.SetDefaultExpectTimeout(30_000);
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = TestEnvironment.ChromiumPath,
            Headless = true,
            Args = ChromiumArgs,
        });
    }

    /// <summary>A new browser context (own cookies) logged in as the given user.</summary>
    /// <remarks>
    /// Playwright evaluates a string predicate that is not a function literal (e.g. <c>"(f)() > 0"</c>) with
    /// <c>eval</c> inside the page, which the app's CSP (no 'unsafe-eval') refuses: contexts bypass the CSP
    /// unless <paramref name="enforceCsp"/> (the CSP test checks the policy with the real browser).
    /// </remarks>
    public async Task<IPage> LoggedInPageAsync(string email, string password, bool enforceCsp = false)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = BaseAddress.ToString(), ViewportSize = new ViewportSize { Width = 1400, Height = 900 }, BypassCSP = !enforceCsp });
        context.SetDefaultTimeout(60_000);
        var page = await context.NewPageAsync();
        await page.GotoAsync("/Account/Login");
        await page.FillAsync("#email", email);
        await page.FillAsync("#password", password);
        await page.ClickAsync("#login-submit");
        try
        {
            await page.WaitForURLAsync(url => !url.Contains("/Account/Login", StringComparison.Ordinal));
        }
        catch (TimeoutException e)
        {
            // Say what the page showed (a refused login, an error page) instead of only that it did not move on.
            var shown = await page.EvaluateAsync<string>("() => (document.querySelector('main') || document.body)?.innerText?.slice(0, 600) ?? ''");
            throw new TimeoutException($"Login as {email} did not leave {page.Url}; the page shows: {shown}", e);
        }
        return page;
    }

    /// <summary>Navigates and waits until the page's circuit is interactive (clicks before that are lost).</summary>
    public static async Task GotoInteractiveAsync(IPage page, string path)
    {
        await page.GotoAsync(path);
        await page.WaitForSelectorAsync("#interactive", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });
    }

    /// <summary>Where screenshots go: docs/screenshots at the repository root.</summary>
    public static string ScreenshotPath(string name)
    {
        // Builds with --artifacts-path put the binaries outside the repository: fall back to where this source file lives.
        var dir = FindRepositoryRoot(AppContext.BaseDirectory) ?? FindRepositoryRoot(Directory.GetCurrentDirectory())
            ?? FindRepositoryRoot(Path.GetDirectoryName(SourceFile()) ?? ".");
        var target = Path.Combine(dir?.FullName ?? Path.GetTempPath(), "docs", "screenshots");
        Directory.CreateDirectory(target);
        return Path.Combine(target, name);
    }

    private static string SourceFile([System.Runtime.CompilerServices.CallerFilePath] string path = "") => path;

    private static DirectoryInfo? FindRepositoryRoot(string start)
    {
        var dir = new DirectoryInfo(start);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MeasureApp.sln")))
        {
            dir = dir.Parent;
        }
        return dir;
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }
        _playwright?.Dispose();
        await Factory.DisposeAsync();
    }
}
