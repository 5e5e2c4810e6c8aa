using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MeasureApp.Bench.Load.Circuits;
using MeasureApp.Tests.Infrastructure;

namespace MeasureApp.Bench.Load;

/// <summary>
/// Issue 14 / SPEC §9: how many live tabs one server holds. The real app runs as a child process on
/// SQLite; U users register and log in through the real forms, each starts M measurements of the
/// simulated generator, and T headless tabs per user open the Live page over the real Blazor hub
/// (<see cref="HeadlessCircuit"/>: render batches acknowledged, JS calls answered). After a warm-up,
/// the window counts every chart's frames (its entries in the tab's <c>extendMany</c> calls: one per drain tick for all the tab's charts), the age of each chart's newest
/// point, the server's CPU time and resident memory. With <c>--baseline</c> a fresh server runs the
/// same number of tabs of the bare page (one render + one ~1 KB JS call per tick at 30 Hz, no
/// measurements) in the same run.
/// </summary>
public sealed class CircuitsScenario : ILoadScenario
{
    private const string AdminEmail = "admin@circuits.local";
    private const string AdminPassword = "circuits-bench-password-1";
    private const string UserPassword = "circuits-user-password-1";

    /// <inheritdoc />
    public string Name => "circuits";

    /// <inheritdoc />
    public string Description => "headless Live-page tabs (Blazor circuits) per server: frames/s per chart, server CPU and MB per circuit, beside a bare page (SPEC §9)";

    /// <inheritdoc />
    public string Usage => "--users 25 --tabs 1 --measurements 4 --rate 1000 --channels 1 --warmup 30 --seconds 30 [--baseline] --app <MeasureApp.dll, default next to the bench>";

    /// <inheritdoc />
    public async Task<LoadReport> RunAsync(LoadOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        var settings = new Settings(
            Users: Math.Max(1, options.GetInt("users", 25)),
            Tabs: Math.Max(1, options.GetInt("tabs", 1)),
            Measurements: Math.Clamp(options.GetInt("measurements", 4), 0, 4),
            Rate: options.GetDouble("rate", 1000),
            Channels: Math.Clamp(options.GetInt("channels", 1), 1, 8),
            Warmup: TimeSpan.FromSeconds(options.GetDouble("warmup", 30)),
            Window: TimeSpan.FromSeconds(options.GetDouble("seconds", 30)),
            Dll: options.GetString("app", AppProcess.DefaultDll));
        var baseline = options.Has("baseline");
        var circuits = settings.Users * settings.Tabs;
        var report = new LoadReport(Name, "circuits", "Live tabs per server (headless Blazor circuits)");
        var loadBefore = LoadAverage();

        var live = await RunOneAsync(settings, bare: false, progress, cancellationToken);
        report.Add($"Live page: frames/s per chart (mean), {circuits} tabs × {settings.Measurements} charts", live.MeanHz, "Hz", "goal ≥ 20", live.MeanHz >= 20 ? "met" : "missed");
        report.Add("Live page: frames/s per chart (p5)", live.P5Hz, "Hz");
        report.Add("Live page: newest point's age at the client (p50)", live.AgeP50Ms, "ms");
        report.Add("Live page: newest point's age at the client (p99)", live.AgeP99Ms, "ms");
        report.Add("Live page: server CPU", live.ServerCpuPercent, "% of a core");
        report.Add("Live page: server memory (RSS) per tab", live.MbPerCircuit, "MB");
        report.Add("Live page: live managed heap per tab", live.HeapMbPerCircuit, "MB", baseline ? "" : "goal ≤ 1 beyond the bare page's", "");
        report.Add("Live page: render batches per tab per s", live.RendersPerCircuitPerSecond, "/s");
        report.Add("Live page: circuit errors / dropped tabs", live.Errors, "", live.LastError ?? "");
        if (baseline)
        {
            var bare = await RunOneAsync(settings, bare: true, progress, cancellationToken);
            report.Add($"Bare page: ticks/s per tab (mean), {circuits} tabs", bare.MeanHz, "Hz", "30 Hz page");
            report.Add("Bare page: ticks/s per tab (p5)", bare.P5Hz, "Hz");
            report.Add("Bare page: server CPU", bare.ServerCpuPercent, "% of a core");
            report.Add("Bare page: server memory (RSS) per tab", bare.MbPerCircuit, "MB");
            report.Add("Bare page: live managed heap per tab", bare.HeapMbPerCircuit, "MB");
            var beyond = live.HeapMbPerCircuit - bare.HeapMbPerCircuit;
            report.Add("Live page: live heap per tab beyond the bare page's", beyond, "MB", "goal ≤ 1", beyond <= 1 ? "met" : "missed");
            report.Add("Bare page: circuit errors / dropped tabs", bare.Errors, "", bare.LastError ?? "");
            report.Add("Live chart rate ÷ bare tick rate", bare.MeanHz > 0 ? live.MeanHz / bare.MeanHz : 0, "×");
            report.Add("Live CPU ÷ bare CPU", bare.ServerCpuPercent > 0 ? live.ServerCpuPercent / bare.ServerCpuPercent : 0, "×");
        }
        report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"{settings.Users} users × {settings.Tabs} tab(s), each user running {settings.Measurements} × {settings.Channels} ch × {settings.Rate:0} Hz of sim-1; fresh server (SQLite) per page, {settings.Warmup.TotalSeconds:0} s warm-up, {settings.Window.TotalSeconds:0} s window."));
        report.Notes.Add("A chart's frame is its entry in the tab's one `extendMany` JS call per drain tick; a bare tick is one `console.debug` call. Age = client clock at a 1 s probe − (measurement start + the chart's newest x): it includes the server's column width and the client's own queueing. Memory per tab = (server RSS with the tabs open − RSS before they opened) ÷ tabs; live heap per tab = the same difference of the managed heap after a full blocking collection (`/api/bench/heap`, mapped only with Bench:Diagnostics), which leaves out what the server GC holds in reserve.");
        report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"The driver runs on the same machine (client CPU {live.ClientCpuPercent:0} % of a core during the Live window). Load average before/after: {loadBefore} / {LoadAverage()} on {Environment.ProcessorCount} cores."));
        return report;
    }

    private sealed record Settings(int Users, int Tabs, int Measurements, double Rate, int Channels, TimeSpan Warmup, TimeSpan Window, string Dll);

    private sealed record RunResult(double MeanHz, double P5Hz, double AgeP50Ms, double AgeP99Ms, double ServerCpuPercent, double ClientCpuPercent, double MbPerCircuit, double HeapMbPerCircuit, double RendersPerCircuitPerSecond, int Errors, string? LastError);

    private static async Task<RunResult> RunOneAsync(Settings s, bool bare, TextWriter progress, CancellationToken ct)
    {
        var page = bare ? "bare" : "Live";
        var work = Path.Combine(Path.GetTempPath(), "measureapp-circuits-" + Guid.NewGuid().ToString("N")[..8]);
        var appSettings = new Dictionary<string, string>
        {
            ["Auth__AllowRegistration"] = "true",
            ["Auth__RegistrationRequiresApproval"] = "false",
            ["Security__RegistrationsPerHour"] = "10000",
            ["Security__MaxCircuits"] = "1000000",
            ["Security__MaxCircuitsPerAddress"] = "1000000",
            ["Bench__BarePage"] = bare ? "true" : "false",
            ["Bench__Diagnostics"] = "true",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        var tabs = new List<HeadlessCircuit>();
        try
        {
            await progress.WriteLineAsync($"{page}: starting the app");
            await using var app = await AppProcess.StartAsync(s.Dll, Path.Combine(work, "data"), "", AdminEmail, AdminPassword, appSettings, TimeSpan.FromMinutes(6), ct);
            var starts = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
            var users = new List<CookieContainer>();
            for (var u = 0; u < s.Users; u++)
            {
                var email = string.Create(CultureInfo.InvariantCulture, $"user{u + 1}@circuits.local");
                await app.RegisterAsync(email, UserPassword, ct);
                var cookies = new CookieContainer();
                using var client = await app.LoginAsync(email, UserPassword, cookies, ct);
                users.Add(cookies);
                for (var m = 0; !bare && m < s.Measurements; m++)
                {
                    using var response = await client.PostAsJsonAsync(new Uri("/api/measurements", UriKind.Relative),
                        new { device = "sim-1", name = $"u{u + 1}-m{m + 1}", channels = s.Channels, sampleRate = s.Rate }, ct);
                    var body = await response.Content.ReadAsStringAsync(ct);
                    if (!response.IsSuccessStatusCode)
                    {
                        throw new InvalidOperationException($"Start answered {(int)response.StatusCode}: {body}");
                    }
                    using var json = JsonDocument.Parse(body);
                    starts[$"chart-{json.RootElement.GetProperty("id").GetGuid():N}"] = json.RootElement.GetProperty("startedAt").GetDateTimeOffset();
                }
            }
            await progress.WriteLineAsync($"{page}: {s.Users} users ready{(bare ? "" : $", {starts.Count} measurements running")}; opening {s.Users * s.Tabs} tabs");
            using var admin = await app.LoginAsync(AdminEmail, AdminPassword, ct);
            var heapBefore = await LiveHeapAsync(admin, ct);
            var rssBefore = Rss(app.Pid);
            var path = bare ? "/bench/bare" : "/live";
            var counted = bare ? "console.debug" : "extendMany";
            foreach (var cookies in users)
            {
                for (var t = 0; t < s.Tabs; t++)
                {
                    tabs.Add(await HeadlessCircuit.OpenAsync(app.BaseAddress, cookies, path, counted, ct));
                }
            }
            // Every chart (every bare tab) has drawn once before the warm-up starts: a state, not a time.
            var expectedPerTab = bare ? 1 : Math.Min(4, s.Measurements);
            var drawing = Stopwatch.StartNew();
            while (tabs.Any(t => t.Targets.Count(kv => kv.Value.Calls > 0) < expectedPerTab))
            {
                if (drawing.Elapsed > TimeSpan.FromMinutes(3) || tabs.FirstOrDefault(t => t.Errors > 0) is { } failed)
                {
                    var stuck = tabs.First(t => t.Targets.Count(kv => kv.Value.Calls > 0) < expectedPerTab || t.Errors > 0);
                    throw new InvalidOperationException($"{page}: a tab did not draw all its charts ({stuck.Targets.Count(kv => kv.Value.Calls > 0)} of {expectedPerTab}; last error: {stuck.LastError ?? "none"}).");
                }
                await Task.Delay(TimeSpan.FromMilliseconds(100), ct);
            }
            await progress.WriteLineAsync($"{page}: {tabs.Count} tabs open and drawing after {drawing.Elapsed.TotalSeconds:0.0} s; warming up {s.Warmup.TotalSeconds:0} s");
            await Task.Delay(s.Warmup, ct);

            var before = Snapshot(tabs);
            var serverBefore = CpuSeconds(app.Pid);
            var clientBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var rendersBefore = tabs.Sum(t => t.Renders);
            var clock = Stopwatch.StartNew();
            var ages = new List<double>();
            while (clock.Elapsed < s.Window)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
                var now = DateTimeOffset.UtcNow;
                foreach (var tab in tabs)
                {
                    foreach (var (chart, target) in tab.Targets)
                    {
                        if (starts.TryGetValue(chart, out var started) && NewestX(target.Last) is { } x)
                        {
                            ages.Add(((now - started).TotalSeconds - x) * 1000);
                        }
                    }
                }
            }
            var seconds = clock.Elapsed.TotalSeconds;
            var serverCpu = (CpuSeconds(app.Pid) - serverBefore) / seconds * 100;
            var clientCpu = (Process.GetCurrentProcess().TotalProcessorTime - clientBefore).TotalSeconds / seconds * 100;
            var after = Snapshot(tabs);
            var rssAfter = Rss(app.Pid);
            var heapAfter = await LiveHeapAsync(admin, ct);
            var rates = after.Select(kv => (kv.Value - before.GetValueOrDefault(kv.Key)) / seconds).OrderBy(r => r).ToList();
            // A chart that never drew is a rate of 0, not a missing row.
            var expected = tabs.Count * expectedPerTab;
            while (rates.Count < expected)
            {
                rates.Insert(0, 0);
            }
            ages.Sort();
            var errors = tabs.Sum(t => (int)Math.Min(int.MaxValue, t.Errors)) + tabs.Count(t => !t.Connected);
            var result = new RunResult(
                MeanHz: rates.Count > 0 ? rates.Average() : 0,
                P5Hz: Percentile(rates, 0.05),
                AgeP50Ms: Percentile(ages, 0.5),
                AgeP99Ms: Percentile(ages, 0.99),
                ServerCpuPercent: serverCpu,
                ClientCpuPercent: clientCpu,
                MbPerCircuit: (rssAfter - rssBefore) / 1e6 / Math.Max(1, tabs.Count),
                HeapMbPerCircuit: (heapAfter - heapBefore) / 1e6 / Math.Max(1, tabs.Count),
                RendersPerCircuitPerSecond: (tabs.Sum(t => t.Renders) - rendersBefore) / seconds / Math.Max(1, tabs.Count),
                Errors: errors,
                LastError: tabs.Select(t => t.LastError).LastOrDefault(e => e is not null));
            await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{page}: {result.MeanHz:0.0} Hz mean, {result.P5Hz:0.0} Hz p5, server {serverCpu:0} % CPU, {result.MbPerCircuit:0.00} MB RSS / {result.HeapMbPerCircuit:0.000} MB live heap per tab, {errors} errors"));
            return result;
        }
        finally
        {
            foreach (var tab in tabs)
            {
                await tab.DisposeAsync();
            }
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
                // Temp folder; the OS cleans it.
            }
        }
    }

    private static Dictionary<(HeadlessCircuit, string), long> Snapshot(List<HeadlessCircuit> tabs) =>
        tabs.SelectMany(t => t.Targets.Select(kv => (Key: (t, kv.Key), kv.Value.Calls))).ToDictionary(x => x.Key, x => x.Calls);

    // extend(id, xs, ys, max) or extendMany(ids, xss, yss, maxes): the chart's x columns, its first trace's last x.
    private static double? NewestX((string Args, int Position, long At) last)
    {
        if (last.Args.Length == 0)
        {
            return null;
        }
        using var doc = JsonDocument.Parse(last.Args);
        var xs = last.Position < 0 ? doc.RootElement[1] : doc.RootElement[1][last.Position];
        return xs.GetArrayLength() > 0 && xs[0].GetArrayLength() > 0 ? xs[0][xs[0].GetArrayLength() - 1].GetDouble() : null;
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    // utime + stime of /proc/<pid>/stat (fields 14 and 15, after the parenthesised command name), in seconds.
    private static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    // The server's managed heap after a full collection (admin-only bench endpoint), bytes.
    private static async Task<double> LiveHeapAsync(HttpClient admin, CancellationToken ct)
    {
        var reading = await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/bench/heap", UriKind.Relative), ct);
        return reading.GetProperty("liveBytes").GetInt64();
    }

    private static double Rss(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
