using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Npgsql;

namespace MeasureApp.Bench.Load;

/// <summary>
/// Issue 12's crash figure: the real app as a child process (SQLite, then a PostgreSQL cluster this
/// scenario starts with its default fsync settings) runs N measurements of the simulated generator,
/// is killed with SIGKILL after some seconds, is started again, recovers (orphan sweep, spool replay,
/// counts settled), and then every measurement's stored samples are counted in the database against
/// what the engine had counted before the kill and what the device had produced by the kill.
/// </summary>
public sealed class CrashScenario : ILoadScenario
{
    private const string AdminEmail = "admin@crash.local";
    private const string AdminPassword = "crash-bench-password-1";

    /// <inheritdoc />
    public string Name => "crash";

    /// <inheritdoc />
    public string Description => "kill -9 of the app during N × 8 ch × 100 kHz, restart, count what was stored per measurement (SQLite, PostgreSQL)";

    /// <inheritdoc />
    public string Usage => "--providers sqlite,postgres --measurements 4 --channels 8 --rate 100k --seconds <run before the kill, default 20> --app <MeasureApp.dll, default next to the bench>";

    /// <inheritdoc />
    public async Task<LoadReport> RunAsync(LoadOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        var providers = BenchDatabase.ProvidersFromOptions(options);
        var count = Math.Clamp(options.GetInt("measurements", 4), 1, 4);
        var channels = Math.Clamp(options.GetInt("channels", 8), 1, 8);
        var rate = options.GetDouble("rate", 100_000);
        var seconds = options.GetDouble("seconds", 20);
        var dll = options.GetString("app", AppProcess.DefaultDll);
        if (Environment.GetEnvironmentVariable("MEASUREAPP_TEST_PGBIN") is not { Length: > 0 })
        {
            Environment.SetEnvironmentVariable("MEASUREAPP_TEST_PGBIN", "/usr/lib/postgresql/15/bin");
        }
        var report = new LoadReport(Name, "crash", "Crash loss (kill -9 during acquisition, restart, count)");
        var loadBefore = LoadAverage();
        foreach (var provider in providers)
        {
            await RunOneAsync(provider, dll, count, channels, rate, seconds, report, progress, cancellationToken);
        }
        var chunkSamples = ChunkSamples(rate);
        report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"{count} × {channels} ch × {rate:0} Hz of the simulated generator (sim-1), killed with SIGKILL {seconds:0} s after the starts. Blocks: 5 ms ({rate * 0.005:0} samples); stored chunks: {chunkSamples:0} samples ({chunkSamples / rate * 1000:0} ms); the spool is fsync'd per batch."));
        report.Notes.Add("loss vs produced = samples the device had produced by the kill (wall clock × rate since the measurement's start) minus samples stored after recovery: an upper bound, it includes the device's own 5 ms pacing. loss vs engine = the engine's count read over the API at most one poll (≤ ~0.1 s) before the kill minus stored, when positive: samples the app had counted and lost.");
        report.Notes.Add($"Every measurement is checked for holes (chunks contiguous from sample 0) and its row's count equals the stored samples once recovery finished. Load average before/after: {loadBefore} / {LoadAverage()} on {Environment.ProcessorCount} cores (a shared, loaded machine).");
        return report;
    }

    // The store writer's chunk size at this rate (StoreWriter.MinChunkSamples).
    private static double ChunkSamples(double rate) => Math.Max(1, Math.Min(Math.Max(512, rate / 10), Math.Ceiling(rate * StoreWriter.MaxChunkSpan.TotalSeconds)));

    private static async Task RunOneAsync(BenchProvider provider, string dll, int count, int channels, double rate, double seconds, LoadReport report, TextWriter progress, CancellationToken ct)
    {
        var work = Path.Combine(Path.GetTempPath(), "measureapp-crash-" + Guid.NewGuid().ToString("N")[..8]);
        var data = Path.Combine(work, "data");
        Directory.CreateDirectory(work);
        using var pg = provider == BenchProvider.Postgres ? await PrivatePostgres.StartAsync(durable: true) : null;
        var database = pg?.ConnectionString ?? "";
        var name = provider == BenchProvider.Postgres ? "PostgreSQL" : "SQLite";
        try
        {
            await progress.WriteLineAsync($"{name}: starting the app ({dll})");
            var ids = new List<(Guid Id, DateTimeOffset StartedAt)>();
            var lastSeen = new Dictionary<Guid, long>();
            double queuedBytes = 0, spooledChunks = 0;
            DateTimeOffset killedAt;
            await using (var app = await AppProcess.StartAsync(dll, data, database, AdminEmail, AdminPassword, null, TimeSpan.FromMinutes(6), ct))
            {
                using var client = await app.LoginAsync(AdminEmail, AdminPassword, ct);
                for (var i = 0; i < count; i++)
                {
                    using var response = await client.PostAsJsonAsync(new Uri("/api/measurements", UriKind.Relative),
                        new { device = "sim-1", name = $"crash-{i + 1}", channels, sampleRate = rate }, ct);
                    var body = await response.Content.ReadAsStringAsync(ct);
                    if (!response.IsSuccessStatusCode)
                    {
                        throw new InvalidOperationException($"Start answered {(int)response.StatusCode}: {body}");
                    }
                    using var json = JsonDocument.Parse(body);
                    ids.Add((json.RootElement.GetProperty("id").GetGuid(), json.RootElement.GetProperty("startedAt").GetDateTimeOffset()));
                }
                await progress.WriteLineAsync($"{name}: {count} measurements running; killing the app in {seconds:0} s");
                var killAt = Stopwatch.StartNew();
                while (killAt.Elapsed.TotalSeconds < seconds)
                {
                    // The engine's counts, as fresh as the API answers them: the last ones before the kill are what the app had acknowledged.
                    foreach (var (id, _) in ids)
                    {
                        using var json = JsonDocument.Parse(await client.GetStringAsync(new Uri($"/api/measurements/{id}", UriKind.Relative), ct));
                        lastSeen[id] = json.RootElement.GetProperty("sampleCount").GetInt64();
                    }
                    var metrics = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative), ct);
                    queuedBytes = Metric(metrics, "measureapp_store_queue_bytes");
                    spooledChunks = Metric(metrics, "measureapp_store_chunks_spooled_total");
                }
                killedAt = DateTimeOffset.UtcNow;
                app.KillHard();
            }
            var spoolLeft = SpoolBytes(data);
            await progress.WriteLineAsync($"{name}: killed (spool left: {spoolLeft} bytes); restarting");
            var recovery = Stopwatch.StartNew();
            await using (var app = await AppProcess.StartAsync(dll, data, database, AdminEmail, AdminPassword, null, TimeSpan.FromMinutes(6), ct))
            {
                var runs = await WaitForRecoveryAsync(database, data, ids.Select(i => i.Id).ToList(), TimeSpan.FromMinutes(3), ct);
                var recovered = recovery.Elapsed;
                for (var i = 0; i < ids.Count; i++)
                {
                    var (id, startedAt) = ids[i];
                    var run = runs[id];
                    var produced = (long)((killedAt - startedAt).TotalSeconds * rate);
                    var lossProduced = produced - run.Samples;
                    var lossEngine = Math.Max(0, lastSeen[id] - run.Samples);
                    report.Add(string.Create(CultureInfo.InvariantCulture, $"{name} m{i + 1}: loss vs produced"), lossProduced, "samples",
                        string.Create(CultureInfo.InvariantCulture, $"= {lossProduced / rate * 1000:0.0} ms; stored {run.Samples:N0} of {produced:N0}"),
                        run.Contiguous ? "no hole" : "HOLE");
                    report.Add(string.Create(CultureInfo.InvariantCulture, $"{name} m{i + 1}: loss vs engine"), lossEngine, "samples",
                        string.Create(CultureInfo.InvariantCulture, $"= {lossEngine / rate * 1000:0.0} ms; engine had {lastSeen[id]:N0}"),
                        run.Row?.SampleCount == run.Samples ? "row = stored" : $"row says {run.Row?.SampleCount}");
                }
                report.Add($"{name}: recovery (start to settled)", recovered.TotalSeconds, "s", $"spool left by the kill: {spoolLeft / 1e6:0.0} MB");
                report.Add($"{name}: queued in memory at the last poll", queuedBytes / 1e6, "MB",
                    string.Create(CultureInfo.InvariantCulture, $"= {queuedBytes / (count * channels * 4 * rate) * 1000:0} ms of all {count} measurements' data; {spooledChunks:0} chunks spooled so far"));
                await progress.WriteLineAsync($"{name}: recovered in {recovered.TotalSeconds:0.0} s");
            }
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
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

    // Recovery is done when every row is stopped, the spool is gone and each row's count equals what is stored.
    private static async Task<Dictionary<Guid, StoredRun>> WaitForRecoveryAsync(string database, string data, List<Guid> ids, TimeSpan within, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var runs = new Dictionary<Guid, StoredRun>();
            await using (var db = StoredRun.Open(database, data))
            {
                foreach (var id in ids)
                {
                    runs[id] = await StoredRun.ReadAsync(db, id, ct);
                }
            }
            var settled = SpoolBytes(data) == 0 && runs.Values.All(r => r.Row is { State: MeasureApp.Acquisition.Measurements.MeasurementState.Stopped } row && row.SampleCount == r.Samples);
            if (settled)
            {
                return runs;
            }
            if (deadline.Elapsed > within)
            {
                throw new TimeoutException($"Recovery did not settle within {within}: {string.Join("; ", runs.Values.Select(r => $"{r.Row?.State} row {r.Row?.SampleCount} stored {r.Samples}"))}, spool {SpoolBytes(data)} bytes.");
            }
            // Poll interval of a condition with a deadline.
            await Task.Delay(200, ct);
        }
    }

    private static double Metric(string text, string name)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(name + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
            }
        }
        return double.NaN;
    }

    private static long SpoolBytes(string data)
    {
        var folder = Path.Combine(data, "spool");
        return Directory.Exists(folder) ? Directory.EnumerateFiles(folder, "*.spool").Sum(f => new FileInfo(f).Length) : 0;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
