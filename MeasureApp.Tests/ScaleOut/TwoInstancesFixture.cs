using System.Diagnostics;
using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using MeasureApp.Data;
using MeasureApp.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using Npgsql;

namespace MeasureApp.Tests.ScaleOut;

/// <summary>
/// Two real app processes (this build's MeasureApp.dll) on loopback ports, started and stopped by
/// scripts/two-instances.sh, sharing a fresh PostgreSQL database and the test Redis (its own logical
/// database and relay prefix, so other tests' keys never mix in), plus Debian's Chromium.
/// </summary>
public sealed class TwoInstancesFixture : IAsyncLifetime
{
    public const string AdminEmail = "admin@two.local";
    public const string AdminPassword = "admin-password-2";

    private readonly string _database = "measureapp_two_" + Guid.NewGuid().ToString("N")[..12];
    private readonly string _state = Path.Combine(Path.GetTempPath(), "measureapp-two-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly List<int> _pids = [];
    private IPlaywright? _playwright;

    public Uri A { get; private set; } = null!;

    public Uri B { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Connection string of the shared database (the test reads and seeds through it).</summary>
    public string DatabaseConnectionString => new NpgsqlConnectionStringBuilder(TestEnvironment.PostgresConnectionString) { Database = _database }.ConnectionString;

    public async Task InitializeAsync()
    {
        try
        {
            await StartAsync();
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    private async Task StartAsync()
    {
        await using (var admin = new NpgsqlConnection(TestEnvironment.PostgresConnectionString))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {_database}", admin);
            await create.ExecuteNonQueryAsync();
        }
        var (exit, output) = await RunScriptAsync("start", TimeSpan.FromMinutes(4));
        foreach (var name in new[] { "a", "b" })
        {
            if (File.Exists(Path.Combine(_state, name + ".pid")))
            {
                _pids.Add(int.Parse(await File.ReadAllTextAsync(Path.Combine(_state, name + ".pid")), System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        Assert.True(exit == 0, $"two-instances.sh start failed ({exit}):\n{output}");
        A = new Uri((await File.ReadAllTextAsync(Path.Combine(_state, "a.url"))).Trim());
        B = new Uri((await File.ReadAllTextAsync(Path.Combine(_state, "b.url"))).Trim());
        Assert.NotEqual(A.Port, B.Port);

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = TestEnvironment.ChromiumPath,
            Headless = true,
            Args = BrowserFixture.ChromiumArgs,
        });
    }

    /// <summary>The last lines of an instance's log, for failure messages.</summary>
    public string LogTail(string name, int lines = 30)
    {
        var path = Path.Combine(_state, name, "app.log");
        return File.Exists(path) ? string.Join('\n', File.ReadLines(path).TakeLast(lines)) : "(no log)";
    }

    /// <summary>A client for one instance that keeps its own cookies and never follows redirects.</summary>
    public static HttpClient Client(Uri instance, CookieContainer? cookies = null) =>
        new(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true, CookieContainer = cookies ?? new CookieContainer() }) { BaseAddress = instance };

    /// <summary>Creates an operator through the registration form of instance A; returns its user id.</summary>
    public async Task<string> RegisterAsync(string email, string password)
    {
        using var client = Client(A);
        var token = await HttpLogin.GetFormTokenAsync(client, "/Account/Register");
        var response = await client.PostAsync("/Account/Register", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "register",
            ["__RequestVerificationToken"] = token,
            ["Input.Email"] = email,
            ["Input.Password"] = password,
            ["Input.ConfirmPassword"] = password,
        }));
        Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"Registering {email} answered {(int)response.StatusCode}.");
        await using var db = CreateDbContext();
        return await db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync();
    }

    /// <summary>A client logged in on <paramref name="instance"/>.</summary>
    public static async Task<HttpClient> LoggedInClientAsync(Uri instance, string email, string password, CookieContainer? cookies = null)
    {
        var client = Client(instance, cookies);
        var response = await HttpLogin.PostLoginAsync(client, email, password);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.DoesNotContain("/Account/", response.Headers.Location?.ToString() ?? "", StringComparison.Ordinal);
        return client;
    }

    /// <summary>A browser context (own cookies) carrying the auth cookie of a login on <paramref name="instance"/>.</summary>
    public async Task<IPage> LoggedInPageAsync(Uri instance, string email, string password)
    {
        var jar = new CookieContainer();
        using (await LoggedInClientAsync(instance, email, password, jar))
        {
            // Only the cookies are wanted.
        }
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = instance.ToString(), ViewportSize = new ViewportSize { Width = 1400, Height = 900 }, BypassCSP = true });
        await context.AddCookiesAsync(jar.GetCookies(instance).Select(c => new Microsoft.Playwright.Cookie { Name = c.Name, Value = c.Value, Url = instance.ToString() }));
        return await context.NewPageAsync();
    }

    /// <summary>Stores a user's parallel-measurement limit the way the Limits page does (a row in the shared database).</summary>
    public async Task SetParallelLimitAsync(string userId, int limit)
    {
        await using var db = CreateDbContext();
        var row = await db.UserLimits.FirstOrDefaultAsync(l => l.UserId == userId);
        if (row is null)
        {
            row = new UserLimitsRecord { UserId = userId };
            db.UserLimits.Add(row);
        }
        row.MaxParallelMeasurements = limit;
        await db.SaveChangesAsync();
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }
        _playwright?.Dispose();
        if (Directory.Exists(_state))
        {
            var (exit, output) = await RunScriptAsync("stop", TimeSpan.FromMinutes(2));
            if (exit != 0)
            {
                Console.Error.WriteLine($"two-instances.sh stop failed ({exit}): {output}");
            }
        }
        // Whatever the script did, no instance outlives the fixture.
        foreach (var pid in _pids)
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                if (!process.HasExited && process.ProcessName.Contains("dotnet", StringComparison.OrdinalIgnoreCase))
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }
            }
            catch (ArgumentException)
            {
                // Already gone.
            }
        }
        NpgsqlConnection.ClearAllPools();
        await using (var admin = new NpgsqlConnection(TestEnvironment.PostgresConnectionString))
        {
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }
        if (Environment.GetEnvironmentVariable("MEASUREAPP_KEEP_TWO_INSTANCES") is not { Length: > 0 } && Directory.Exists(_state))
        {
            Directory.Delete(_state, recursive: true);
        }
    }

    private PostgresAppDbContext CreateDbContext() =>
        new(new DbContextOptionsBuilder<PostgresAppDbContext>().UseNpgsql(DatabaseConnectionString).Options);

    private async Task<(int Exit, string Output)> RunScriptAsync(string command, TimeSpan timeout)
    {
        var script = ScriptPath();
        var start = new ProcessStartInfo("bash", [script, command, _state])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["MEASUREAPP_DATABASE"] = DatabaseConnectionString;
        // A logical database of its own: presence and limit keys of other tests on the shared Redis stay out.
        start.Environment["MEASUREAPP_REDIS"] = $"{TestEnvironment.RedisConnectionString},defaultDatabase={RedisDatabase}";
        start.Environment["MEASUREAPP_DLL"] = Path.Combine(AppContext.BaseDirectory, "MeasureApp.dll");
        start.Environment["MEASUREAPP_OWNER_PID"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["MEASUREAPP_ADMIN_EMAIL"] = AdminEmail;
        start.Environment["MEASUREAPP_ADMIN_PASSWORD"] = AdminPassword;
        // Operators are created through the registration form, which is off by default.
        start.Environment["Auth__AllowRegistration"] = "true";
        start.Environment["Auth__RegistrationRequiresApproval"] = "false";
        start.Environment["Security__RegistrationsPerHour"] = "10000";
        start.Environment["Security__LoginsPerMinute"] = "10000";
        // Pub/sub channels are not per database: the relay gets a prefix of its own.
        start.Environment["Relay__Prefix"] = $"measureapp:{_database}:relay:";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("bash did not start");
        using var cts = new CancellationTokenSource(timeout);
        var stdout = process.StandardOutput.ReadToEndAsync(cts.Token);
        var stderr = process.StandardError.ReadToEndAsync(cts.Token);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"timed out after {timeout}");
        }
        return (process.ExitCode, await stdout + await stderr);
    }

    // 1–15: database 0 is where the other tests' keys live.
    private int RedisDatabase { get; } = 1 + RandomNumberGenerator.GetInt32(15);

    private static string ScriptPath([CallerFilePath] string source = "")
    {
        var path = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(source) ?? ".", "..", "..", "scripts", "two-instances.sh"));
        Assert.True(File.Exists(path), $"{path} not found (the test locates it from its source file).");
        return path;
    }
}
