using System.Net;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Playwright;

namespace MeasureApp.Bench.Load;

/// <summary>
/// The unchanged app (its own <c>AddMeasureAppServices</c>/<c>MapMeasureAppEndpoints</c>) on a
/// loopback Kestrel port with a fresh SQLite database in a temp folder, plus Debian's Chromium
/// driven by Playwright (never a downloaded browser), logged in as the seeded admin.
/// </summary>
public sealed class BrowserLatencyHost : IAsyncDisposable
{
    private const string AdminEmail = "bench-admin@bench.local";
    private const string AdminPassword = "bench-admin-password-1";

    /// <summary>Chromium flags of the browser tests (MeasureApp.Tests/Infrastructure/BrowserFixture.cs).</summary>
    private static readonly string[] ChromiumArgs =
    [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic",
    ];

    private readonly string _dataDirectory;
    private readonly WebApplication _app;
    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private string? _storageState;

    private BrowserLatencyHost(WebApplication app, string dataDirectory)
    {
        _app = app;
        _dataDirectory = dataDirectory;
    }

    /// <summary>Base address of the app, e.g. http://127.0.0.1:41234/.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The admin as the engine sees them (owner of every measurement the bench starts).</summary>
    public Requester Owner { get; private set; } = null!;

    /// <summary>The app's measurement engine.</summary>
    public MeasurementEngine Engine => _app.Services.GetRequiredService<MeasurementEngine>();

    /// <summary>The app's live hub.</summary>
    public LiveHub Hub => _app.Services.GetRequiredService<LiveHub>();

    /// <summary>Starts app and browser and logs the admin in once (the cookie is reused by every page).</summary>
    public static async Task<BrowserLatencyHost> StartAsync(string chromiumPath, CancellationToken cancellationToken)
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "measureapp-bench-latency", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDirectory);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            // The app's name finds its Razor components and its static web assets manifests (copied next to the bench by its csproj).
            ApplicationName = typeof(MeasureApp.Components.App).Assembly.GetName().Name,
            ContentRootPath = RepositoryRoot(),
            EnvironmentName = Environments.Production,
            Args = [],
        });
        builder.WebHost.UseSetting("ConnectionStrings:Database", "");
        builder.WebHost.UseSetting("ConnectionStrings:Redis", "");
        builder.WebHost.UseSetting("Storage:DataDirectory", dataDirectory);
        builder.WebHost.UseSetting("Admin:Email", AdminEmail);
        builder.WebHost.UseSetting("Admin:Password", AdminPassword);
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        // The shipped appsettings.json has a Network device on the fixed ports 5700; the bench may run
        // beside the app or the test suite, so every configured device listens on free ports.
        foreach (var device in builder.Configuration.GetSection("Acquisition:Devices").GetChildren())
        {
            builder.WebHost.UseSetting($"{device.Path}:TcpPort", "0");
            builder.WebHost.UseSetting($"{device.Path}:UdpPort", "0");
        }
        // The app's own start/stop log lines would drown the bench's progress output.
        builder.WebHost.UseSetting("Logging:LogLevel:Default", "Warning");
        builder.AddMeasureAppServices();
        var app = builder.Build();
        app.MapMeasureAppEndpoints();
        var host = new BrowserLatencyHost(app, dataDirectory);
        try
        {
            await host.InitializeAsync(chromiumPath, cancellationToken);
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
        return host;
    }

    private async Task InitializeAsync(string chromiumPath, CancellationToken cancellationToken)
    {
        await _app.StartAsync(cancellationToken);
        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!;
        BaseAddress = new Uri(addresses.Addresses.First());
        await using (var scope = _app.Services.CreateAsyncScope())
        {
            var admin = await scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>().FindByEmailAsync(AdminEmail)
                ?? throw new InvalidOperationException("The app did not seed the admin user.");
            Owner = new Requester(admin.Id, admin.Email!, IsAdmin: true);
        }
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromiumPath,
            Headless = true,
            Args = ChromiumArgs,
        });
        var context = await _browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = BaseAddress.ToString() });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/Account/Login");
        await page.FillAsync("#email", AdminEmail);
        await page.FillAsync("#password", AdminPassword);
        await page.ClickAsync("#login-submit");
        await page.WaitForURLAsync(url => !url.Contains("/Account/Login", StringComparison.Ordinal));
        _storageState = await context.StorageStateAsync();
        await context.CloseAsync();
    }

    /// <summary>A fresh logged-in browser context (1400 × 900) whose pages run <paramref name="initScript"/> before any page script.</summary>
    public async Task<IBrowserContext> NewContextAsync(string initScript)
    {
        var context = await _browser!.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseAddress.ToString(),
            StorageState = _storageState,
            ViewportSize = new ViewportSize { Width = 1400, Height = 900 },
        });
        await context.AddInitScriptAsync(initScript);
        return context;
    }

    /// <summary>Starts a measurement on the simulated device "sim-1" owned by <see cref="Owner"/>.</summary>
    public async Task<MeasurementInfo> StartMeasurementAsync(string name, double sampleRate, int channels, CancellationToken cancellationToken)
    {
        var started = await Engine.StartAsync(Owner, new UserLimits(),
            new StartRequest { DeviceId = "sim-1", Name = name, Channels = channels, SampleRate = sampleRate }, cancellationToken);
        return started.Measurement ?? throw new InvalidOperationException($"Could not start '{name}': {started.Error}");
    }

    /// <summary>
    /// Wall-clock time (ns since the epoch) of sample 0 of a running measurement, i.e. when x = 0 s
    /// was sampled. Read from the hub, not from <see cref="MeasurementInfo.StartedAt"/>: the device
    /// clock starts after the measurement row is written, some milliseconds later. A subscription
    /// with one sample per column reports the index of the newest sample exactly (x = index / rate)
    /// next to that sample's time stamp; it is dropped after its first frame.
    /// </summary>
    public async Task<long> SampleZeroTimeNsAsync(Guid measurementId, CancellationToken cancellationToken)
    {
        using var feed = Hub.Subscribe(measurementId, Owner, new LiveView(1, TimeSpan.FromTicks(1)), capacity: 4)
            ?? throw new InvalidOperationException($"Measurement {measurementId} is not running.");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (true)
        {
            var frame = await feed.Frames.ReadAsync(timeout.Token);
            if (frame.X.Length > 0 && frame.X[0].Count > 0)
            {
                var newestX = frame.X[0][^1];
                return frame.NewestSampleNs - (long)Math.Round(newestX * 1e9);
            }
        }
    }

    /// <summary>Stops a measurement started by <see cref="StartMeasurementAsync"/>.</summary>
    public Task StopMeasurementAsync(Guid measurementId) => Engine.StopAsync(measurementId, Owner, CancellationToken.None);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }
        _playwright?.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A SQLite handle may still be closing; the temp folder is left to the OS.
        }
    }

    // The repository root holds appsettings.json (devices, limits): the app's content root under `dotnet run` too.
    private static string RepositoryRoot()
    {
        // Builds with --artifacts-path (and test runs) start outside the repository: then where this source file lives.
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory, Path.GetDirectoryName(SourceFile()) ?? "." })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "MeasureApp.sln")))
                {
                    return dir.FullName;
                }
            }
        }
        throw new InvalidOperationException("Run from inside the repository (no MeasureApp.sln above the working directory).");
    }

    private static string SourceFile([System.Runtime.CompilerServices.CallerFilePath] string path = "") => path;
}
