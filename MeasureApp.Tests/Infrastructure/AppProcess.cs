using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace MeasureApp.Tests.Infrastructure;

/// <summary>
/// A real MeasureApp process (a built MeasureApp.dll) on a free loopback port, for crash tests and the
/// <c>load crash</c> bench (which links this file): started like scripts/two-instances.sh starts an
/// instance, then killed with SIGKILL (<see cref="KillHard"/>) or stopped with SIGTERM
/// (<see cref="StopAsync"/>). A watchdog kills it when the owning process dies, so none outlives a
/// killed test run. Free of xunit on purpose.
/// </summary>
internal sealed partial class AppProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly Lock _logLock = new();
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private AppProcess(Process process, string logPath)
    {
        _process = process;
        LogPath = logPath;
        _log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
    }

    /// <summary>Where the app's console output goes.</summary>
    public string LogPath { get; }

    /// <summary>The app's address (http://127.0.0.1:port/).</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Process id.</summary>
    public int Pid => _process.Id;

    /// <summary>True once the process has ended.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The MeasureApp.dll next to the calling assembly (test and bench outputs both have one).</summary>
    public static string DefaultDll => Path.Combine(AppContext.BaseDirectory, "MeasureApp.dll");

    /// <summary>
    /// Starts the app with <paramref name="database"/> (empty: SQLite in <paramref name="dataDirectory"/>) and
    /// an admin <paramref name="adminEmail"/>; returns once /health/ready answers 200.
    /// </summary>
    public static async Task<AppProcess> StartAsync(
        string dll, string dataDirectory, string database, string adminEmail, string adminPassword,
        IReadOnlyDictionary<string, string>? settings, TimeSpan readyWithin, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dll);
        Directory.CreateDirectory(dataDirectory);
        var start = new ProcessStartInfo("dotnet", [dll, "--urls", "http://127.0.0.1:0"])
        {
            // The content root is the app's folder (its appsettings.json and static web assets manifest).
            WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(dll))!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        var env = start.Environment;
        env["ASPNETCORE_ENVIRONMENT"] = "Production";
        env["ConnectionStrings__Database"] = database;
        env["ConnectionStrings__Redis"] = "";
        env["Storage__DataDirectory"] = dataDirectory;
        env["Admin__Email"] = adminEmail;
        env["Admin__Password"] = adminPassword;
        env["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        env["Security__LoginsPerMinute"] = "10000";
        // The Network device binds free ports, so two apps (or a test's) never both claim 5700.
        env["Acquisition__Devices__1__TcpPort"] = "0";
        env["Acquisition__Devices__1__UdpPort"] = "0";
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            env[key] = value;
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        var app = new AppProcess(process, Path.Combine(dataDirectory, "..", Path.GetFileName(dataDirectory) + "-app.log"));
        process.OutputDataReceived += (_, e) => app.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => app.OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        StartWatchdog(process.Id);
        try
        {
            await app.WaitReadyAsync(readyWithin, cancellationToken);
            return app;
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    /// <summary>kill -9: the process ends at once, nothing of it runs any more.</summary>
    public void KillHard()
    {
        if (!_process.HasExited)
        {
            // Process.Kill sends SIGKILL on Unix.
            _process.Kill();
        }
        _process.WaitForExit();
    }

    /// <summary>SIGTERM (a host shutdown); returns how long the process took to exit, or null when it did not within <paramref name="within"/>.</summary>
    public async Task<TimeSpan?> StopAsync(TimeSpan within)
    {
        var watch = Stopwatch.StartNew();
        using (var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", Pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false }))
        {
            await kill!.WaitForExitAsync();
        }
        using var timeout = new CancellationTokenSource(within);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
            return watch.Elapsed;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>A client for this app that keeps its own cookies and never follows redirects.</summary>
    public HttpClient CreateClient(CookieContainer? cookies = null) =>
        new(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true, CookieContainer = cookies ?? new CookieContainer() }) { BaseAddress = BaseAddress };

    /// <summary>A client logged in through the real login form.</summary>
    public Task<HttpClient> LoginAsync(string email, string password, CancellationToken cancellationToken = default) =>
        LoginAsync(email, password, new CookieContainer(), cancellationToken);

    /// <summary>A client logged in through the real login form, its cookies in <paramref name="cookies"/>.</summary>
    public async Task<HttpClient> LoginAsync(string email, string password, CookieContainer cookies, CancellationToken cancellationToken)
    {
        var client = CreateClient(cookies);
        var page = await client.GetStringAsync(new Uri("/Account/Login", UriKind.Relative), cancellationToken);
        var token = AntiforgeryToken().Match(page);
        if (!token.Success)
        {
            throw new InvalidOperationException("The login page has no antiforgery token.");
        }
        using var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "login",
            ["__RequestVerificationToken"] = WebUtility.HtmlDecode(token.Groups[1].Value),
            ["Input.Email"] = email,
            ["Input.Password"] = password,
        });
        using var response = await client.PostAsync(new Uri("/Account/Login", UriKind.Relative), form, cancellationToken);
        if (response.StatusCode != HttpStatusCode.Redirect || (response.Headers.Location?.ToString() ?? "").Contains("/Account/", StringComparison.Ordinal))
        {
            client.Dispose();
            throw new InvalidOperationException($"Login as {email} answered {(int)response.StatusCode} {response.Headers.Location}.");
        }
        return client;
    }

    /// <summary>Registers a user through the real registration form (the app must allow registration without approval).</summary>
    public async Task RegisterAsync(string email, string password, CancellationToken cancellationToken = default)
    {
        using var client = CreateClient();
        var page = await client.GetStringAsync(new Uri("/Account/Register", UriKind.Relative), cancellationToken);
        var token = AntiforgeryToken().Match(page);
        if (!token.Success)
        {
            throw new InvalidOperationException("The registration page has no antiforgery token (is registration allowed?).");
        }
        using var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "register",
            ["__RequestVerificationToken"] = WebUtility.HtmlDecode(token.Groups[1].Value),
            ["Input.Email"] = email,
            ["Input.Password"] = password,
            ["Input.ConfirmPassword"] = password,
        });
        using var response = await client.PostAsync(new Uri("/Account/Register", UriKind.Relative), form, cancellationToken);
        if (response.StatusCode != HttpStatusCode.Redirect)
        {
            throw new InvalidOperationException($"Registering {email} answered {(int)response.StatusCode}.");
        }
    }

    /// <summary>The last lines of the app's output, for failure messages.</summary>
    public string LogTail(int lines = 40)
    {
        lock (_logLock)
        {
            _log.Flush();
        }
        using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var all = reader.ReadToEnd().Split('\n');
        return string.Join('\n', all.TakeLast(lines));
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        lock (_logLock)
        {
            _log.Dispose();
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_logLock)
        {
            try
            {
                _log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // Output after dispose (the last lines of a killed process): nobody reads them.
            }
        }
        if (ListeningOn().Match(line) is { Success: true } m)
        {
            _listening.TrySetResult(new Uri(m.Groups[1].Value + "/"));
        }
    }

    private async Task WaitReadyAsync(TimeSpan within, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(within);
        var exited = _process.WaitForExitAsync(deadline.Token);
        try
        {
            var first = await Task.WhenAny(_listening.Task, exited);
            if (first != _listening.Task)
            {
                await first;
                throw new InvalidOperationException($"The app exited during start ({_process.ExitCode}):\n{LogTail()}");
            }
            BaseAddress = await _listening.Task;
            using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
            while (true)
            {
                deadline.Token.ThrowIfCancellationRequested();
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"The app exited during start ({_process.ExitCode}):\n{LogTail()}");
                }
                try
                {
                    using var ready = await http.GetAsync(new Uri("/health/ready", UriKind.Relative), deadline.Token);
                    if (ready.StatusCode == HttpStatusCode.OK)
                    {
                        return;
                    }
                }
                catch (HttpRequestException)
                {
                    // Not answering yet.
                }
                catch (TaskCanceledException) when (!deadline.IsCancellationRequested)
                {
                    // One answer slower than the client's 10 s (a loaded machine): ask again until the deadline.
                }
                // Poll interval of a condition with a deadline (not a wait for something to happen).
                await Task.Delay(100, deadline.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"The app was not ready within {within}:\n{LogTail()}");
        }
    }

    // Kills the app when the owner (this test or bench process) dies without disposing it.
    private static void StartWatchdog(int pid)
    {
        var script = "while kill -0 \"$0\" 2>/dev/null && kill -0 \"$1\" 2>/dev/null; do sleep 1; done; kill -KILL \"$1\" 2>/dev/null";
        using var watchdog = Process.Start(new ProcessStartInfo("bash", ["-c", script, Environment.ProcessId.ToString(CultureInfo.InvariantCulture), pid.ToString(CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
        });
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryToken();

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningOn();
}
